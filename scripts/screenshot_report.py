"""Screenshots of a report's first screen and of each answer box, in headless Chromium.

    python scripts/screenshot_report.py outputs/demo/report.html [--out DIR]

Writes ``first_screen.png`` (the top 1300 x 1000 pixels), ``campaigners.png``, ``planners.png``
and ``analysts.png`` (each answer box) beside the report, or in ``--out``. Needs Debian's
``chromium`` (Playwright's own browser download is not used) and Playwright for Python (a dev
dependency). Exit status 2 if Chromium cannot be found.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

BOXES = {"campaigners": "For campaigners", "planners": "For NHS planners",
         "analysts": "For policy analysts"}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("report", type=Path)
    p.add_argument("--out", type=Path, help="folder for the PNGs (default: the report's)")
    a = p.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    out = a.out or a.report.parent
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(a.report.resolve().as_uri())
        page.screenshot(path=str(out / "first_screen.png"))
        written = ["first_screen.png"]
        for name, heading in BOXES.items():
            box = page.locator("div.box", has_text=heading)
            if box.count():
                box.first.screenshot(path=str(out / f"{name}.png"))
                written.append(f"{name}.png")
        browser.close()
    print(f"written to {out}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
