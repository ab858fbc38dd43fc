"""The web app in a real browser: ``nenpath app`` on a free port, driven by Playwright with
Debian's chromium (Playwright's own browser download is not available on these machines).

Builds a variant from the base with a lever, runs a tiny comparison (--scale 0.02, 2
replications), and checks that the headlines, a chart and the comparison.csv download appear;
saves a screenshot to outputs/web_app_e2e.png and prints the time from page load to answer
(printed, not asserted: it depends on the machine). Skipped, saying why, when there is no
chromium (CI installs it: .ci/run).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BASELINE

pytestmark = pytest.mark.slow

SCREENSHOT = Path("outputs") / "web_app_e2e.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "NENPATH_OUTPUTS": str(tmp_path / "outputs"),
        "NENPATH_SCENARIOS": str(BASELINE.parent),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "app", "--port", str(port), "--address", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the app server did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        # Stopping `nenpath app` stops the server: before, Streamlit ran on as an orphan.
        time.sleep(0.5)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_build_a_variant_run_it_and_read_the_answer_in_a_browser(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does so as root)")
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            loaded = time.monotonic()
            page.goto(server)
            expect(page.get_by_role("heading", name="Compare scenarios")).to_be_visible(
                timeout=60_000
            )
            # Build a variant: everyone referred to a specialist MDT.
            page.get_by_text("Add a variant built from the base").click()
            title = page.get_by_label("Title of the variant (names it in headlines)")
            title.fill("Everyone to the specialist MDT")
            title.press("Enter")
            page.get_by_text("Everyone referred to a specialist NET MDT").click()
            expect(page.get_by_text("The variant validates")).to_be_visible(timeout=30_000)
            # A tiny run: --scale 0.02, 2 replications, 1 measured year.
            page.get_by_text("Tiny (a check that it runs").click()
            expect(page.get_by_text("for 2 scenarios x 2 replications")).to_be_visible(
                timeout=30_000
            )
            page.get_by_role("button", name="Run", exact=True).click()
            expect(page.get_by_text("Campaigners").first).to_be_visible(timeout=300_000)
            answered = time.monotonic() - loaded
            expect(page.get_by_text("Everyone to the specialist MDT would").first).to_be_visible()
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
            button = page.get_by_role("button", name="Download comparison.csv")
            expect(button).to_be_visible()
            with page.expect_download() as info:
                button.click()
            body = Path(info.value.path()).read_text()
            assert body.startswith("kpi,scenario,mean,ci_low,ci_high")
            assert "everyone_to_the_specialist_mdt" in body
            # Streamlit scrolls inside its main block: a tall window shows the whole answer.
            page.set_viewport_size({"width": 1400, "height": 3400})
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    with capsys.disabled():  # shown in the test log, not captured: a figure, not a check
        print(f"\nweb app: page load to answer {answered:.1f} s (tiny comparison); "
              f"screenshot {SCREENSHOT.resolve()}")  # fmt: skip
