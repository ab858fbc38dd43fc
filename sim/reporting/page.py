"""What every HTML page the project writes shares: escaping, one stylesheet, the page shell,
embedded figures and CSV download links (figures become PNG with
:func:`sim.core.io.png_base64` or :func:`sim.core.io.save_png`).

Used by the comparison report (:mod:`sim.reporting.report` and its sections), the calibration
report (:mod:`sim.calibration.report`) and the PSA page (:mod:`sim.calibration.psa`), so the
three look alike and a change of style is made once.
"""

from __future__ import annotations

import base64
import html
from typing import Any

CSS = """
body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:2px solid #1b6ca8;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em}
table{border-collapse:collapse;margin:.8em 0;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eef3f8}td.n{text-align:right;white-space:nowrap}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.88em;color:#444;margin-top:.3em}
.headline li{margin-bottom:.5em}.note{background:#fff8e1;border-left:4px solid #edae49;
padding:.6em 1em}
pre{background:#f6f6f6;padding:.8em;font-size:.8em;overflow-x:auto}
details{margin:.6em 0}summary{cursor:pointer;font-weight:bold}
.small{font-size:.85em;color:#555}
.ok{color:#1a7f37;font-weight:600}.miss{color:#b42318;font-weight:600}
.box{border:1px solid #1b6ca8;border-radius:6px;padding:.2em 1em .6em;margin:1em 0;
background:#f7fafd}.box h3{margin-top:.6em}
nav.toc{font-size:.9em;columns:2;background:#f6f6f6;padding:.5em 1em}
nav.toc a{display:block}
"""
"""The one stylesheet of every page."""


def e(text: Any) -> str:
    """``text`` escaped for HTML."""
    return html.escape(str(text))


def html_page(title: str, body: str) -> str:
    """A whole page: ``title`` (plain text) and ``body`` (HTML) with the shared stylesheet."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f"<title>{e(title)}</title>\n<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def img(png: str, alt: str, caption: str = "") -> str:
    """A figure from a base64 PNG, with its alt text and an optional caption (HTML)."""
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure><img alt='{e(alt)}' src='data:image/png;base64,{png}'>{cap}</figure>"


def csv_link(data: bytes, name: str) -> str:
    """A link that downloads ``data`` as the file ``name`` (the page carries it)."""
    b64 = base64.b64encode(data).decode()
    return f"<a download='{e(name)}' href='data:text/csv;base64,{b64}'>{e(name)}</a>"
