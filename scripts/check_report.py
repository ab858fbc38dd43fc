"""Render a report.html in headless Chromium and check that every figure shows.

Usage::

    python scripts/check_report.py outputs/demo/report.html [--screenshot page.png]

The report is copied to a temporary folder with a small script appended that, once the page has
loaded, writes for every ``<img>`` whether it decoded (``complete`` and ``naturalWidth > 0``)
into the page. Chromium runs headless with no network access of its own (``--dump-dom`` prints
the page after load) and the result is read back from the dumped DOM. Exit status 0 if every
image loaded and there is at least one; 1 otherwise; 2 if Chromium cannot be found.

The automated test suite checks the same report structurally (tests/report/); this script is
the visual check, for machines with Chromium (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html import unescape as html_unescape
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--virtual-time-budget=10000",
]

PROBE = """
<script>
window.addEventListener('load', function () {
  var out = [];
  var imgs = document.getElementsByTagName('img');
  for (var i = 0; i < imgs.length; i++) {
    out.push({alt: imgs[i].alt, ok: imgs[i].complete && imgs[i].naturalWidth > 0,
              w: imgs[i].naturalWidth, h: imgs[i].naturalHeight});
  }
  var pre = document.createElement('pre');
  pre.id = 'image-check';
  var mark = 'IMAGE' + 'CHECK';  // split so the script's own text never matches
  pre.textContent = mark + JSON.stringify(out) + mark;
  document.body.appendChild(pre);
});
</script>
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def check(report: Path, screenshot: Path | None = None) -> tuple[bool, list[dict[str, object]]]:
    """Render ``report`` and return (all images loaded, per-image results)."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium, chromium-browser or google-chrome on PATH")
    html = report.read_text(encoding="utf-8")
    probed = html.replace("</body>", PROBE + "</body>", 1)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(probed, encoding="utf-8")
        profile = Path(tmp) / "profile"
        base = [chromium, *FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run(
            [*base, "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stdout
        if screenshot is not None:
            subprocess.run(
                [
                    *base,
                    f"--screenshot={screenshot.resolve()}",
                    "--window-size=1200,2400",
                    report.resolve().as_uri(),
                ],
                capture_output=True,
                timeout=120,
                check=False,
            )
    m = re.search(r"IMAGECHECK(.*?)IMAGECHECK", dom, re.S)
    if not m:
        return False, []
    results: list[dict[str, object]] = json.loads(html_unescape(m.group(1)))
    return bool(results) and all(r["ok"] for r in results), results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshot", type=Path, help="also save a PNG of the top of the page")
    args = parser.parse_args()
    if not args.report.is_file():
        print(f"check_report: {args.report}: no such file", file=sys.stderr)
        return 2
    try:
        ok, results = check(args.report, args.screenshot)
    except FileNotFoundError as exc:
        print(f"check_report: {exc}", file=sys.stderr)
        return 2
    for r in results:
        state = "ok" if r["ok"] else "NOT LOADED"
        print(f"{state:10s} {r['w']}x{r['h']}  {r['alt']}")
    if not results:
        print("check_report: no images found, or the page did not load", file=sys.stderr)
    print(f"{sum(bool(r['ok']) for r in results)}/{len(results)} images loaded")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
