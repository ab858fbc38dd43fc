"""The app's entry script: ``streamlit run sim/app/web/main.py`` (what ``nenpath app`` runs)."""

from __future__ import annotations

import streamlit as st

from sim.app.web import page_compare, page_runs, page_size, page_watch


def main() -> None:
    st.set_page_config(page_title="nen-pathway", layout="wide")
    nav = st.navigation(
        [
            st.Page(page_compare.render, title="Compare scenarios", url_path="compare",
                    default=True),
            st.Page(page_size.render, title="Size a service", url_path="size"),
            st.Page(page_runs.render, title="Open a past run", url_path="runs"),
            st.Page(page_watch.render, title="Watch the pathway", url_path="watch"),
        ]
    )  # fmt: skip
    nav.run()


main()
