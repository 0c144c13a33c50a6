"""Open an `aecodec compare` HTML page in a real headless browser and check that it renders.

    python bench/check_compare_html.py [PAGE.html] [--screenshot SHOT.png]

Without PAGE, one is made first from a 256x192 crop of the bundled sample (at 0.5 bpp). Two
Chromium runs (Debian: `apt-get install chromium`):

- `--dump-dom`: the page's inline script marks <body> with data-images-loaded (images whose
  naturalWidth > 0 once the page has loaded) and data-images-total; every image must have loaded.
- `--screenshot`: the rendered page must not be blank (it must hold many colours, as photographs
  do, not only white and text).

Exit status 0 when both hold, 1 otherwise, 2 when no Chromium is installed. tests/test_compare.py
runs the same check (skipped where no Chromium is found).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "aecodec" / "samples" / "kodim23.png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1400, 1000)


def find_chromium() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _browser(chromium: str, profile: Path, *args: str,
             timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


def check(page: Path, chromium: str | None = None, screenshot: Path | None = None,
          window: tuple[int, int] = WINDOW) -> dict:
    """Render `page`; returns the numbers and `ok` (all images loaded, screenshot not blank)."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found (apt-get install chromium)")
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="aec-chromium-") as tmp:
        tmp = Path(tmp)
        dom = _browser(chromium, tmp / "profile", "--dump-dom", url)
        body = re.search(rb"<body[^>]*>", dom.stdout)
        tag = body.group(0) if body else b""
        attrs = dict(re.findall(rb'data-images-(loaded|total)="(\d+)"', tag))
        loaded, total = int(attrs.get(b"loaded", -1)), int(attrs.get(b"total", -1))
        shot = screenshot or tmp / "shot.png"
        _browser(chromium, tmp / "profile", f"--screenshot={shot}",
                 f"--window-size={window[0]},{window[1]}", url)
        if not Path(shot).is_file():
            raise RuntimeError(f"Chromium wrote no screenshot (exit {dom.returncode}): "
                               f"{dom.stderr.decode(errors='replace')[-500:]}")
        with Image.open(shot) as im:
            px = np.asarray(im.convert("RGB"))
    colours = len(np.unique(px.reshape(-1, 3) @ np.array([1, 256, 65536])))
    not_white = float(np.mean(px.min(axis=2) < 245))
    result = {"browser": chromium, "images_loaded": loaded, "images_total": total,
              "screenshot_size": (px.shape[1], px.shape[0]), "colours": colours,
              "not_white": round(not_white, 3), "std": round(float(px.std()), 1)}
    # a blank page is one colour; text alone a few hundred grey levels; photos many thousands
    result["ok"] = loaded == total > 0 and colours > 2000 and not_white > 0.05
    return result


def make_page(folder: Path) -> Path:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # this checkout's aecodec, when run as a script
    from aecodec.compare import compare
    crop = Image.open(SAMPLE).convert("RGB").crop((300, 100, 556, 292))
    page = folder / "compare.html"
    page.write_text(compare(crop, bpp=0.5, name="kodim23 crop").render_html(), encoding="utf-8")
    return page


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("page", nargs="?", type=Path, help="an aecodec compare HTML page")
    ap.add_argument("--screenshot", type=Path, default=None, help="keep the screenshot here")
    args = ap.parse_args(argv)
    if find_chromium() is None:
        print("no Chromium found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="aec-page-") as tmp:
        page = args.page or make_page(Path(tmp))
        result = check(page, screenshot=args.screenshot)
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
