"""What the smaller bench commands share: their input image, timing and how results are written."""

from __future__ import annotations

import json
import time
from pathlib import Path


def first_png(folder: Path) -> Path:
    """The folder's first PNG by name: the source image a size sweep upscales."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise SystemExit(f"no PNG images in {folder}")
    return files[0]


def timed(fn, *args, **kwargs):
    """(seconds, result) of one call of fn."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def write_results(out: Path, stem: str, res: dict, markdown) -> dict:
    """OUT/STEM.json (the data) and OUT/STEM.md (markdown(res)); returns res."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown(res))
    return res
