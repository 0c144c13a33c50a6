"""Parsing what people type: file sizes and rectangles (stdlib only; errors are InputError)."""
from __future__ import annotations

import math
import re

from .errors import InputError

SIZE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "KIB": 1024, "MIB": 1024**2}


def parse_size(text) -> int:
    """Bytes from '20000', '20KB', '20kB', '1.5MB', '64KiB' (KB = 1000 bytes, KiB = 1024)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).upper() if m else None
    if m is None or unit not in SIZE_UNITS:
        raise InputError(f"{text!r} is not a size like 20000, 20KB, 1.5MB or 64KiB")
    size = math.floor(float(m.group(1)) * SIZE_UNITS[unit] + 1e-9)
    if size < 1:
        raise InputError(f"size {text!r} is less than one byte")
    return size


def parse_box(text, what: str = "region") -> tuple[int, int, int, int]:
    """(x, y, width, height) from 'x,y,w,h' in pixels; width and height at least 1."""
    parts = str(text).replace(" ", "").split(",")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise InputError(f"{what} {text!r} is not x,y,w,h (four whole numbers, e.g. 300,120,96,64)")
    x, y, w, h = map(int, parts)
    if w < 1 or h < 1:
        raise InputError(f"{what} {text!r}: width and height must be at least 1")
    return x, y, w, h
