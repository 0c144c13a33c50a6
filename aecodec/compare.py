"""`aecodec compare`: aecodec, JPEG, WebP and AVIF at the same file size, side by side.

Every codec gets the same byte budget and uses as much of it as it can: its largest whole file
not above the target, found by bisection over its quality setting (file size grows with quality
for all four; the bisection keeps only files that fit, so none is ever over the target). Each
file is decoded and measured against the original: bytes, bits per pixel of the whole file and
PSNR on the 8-bit RGB planes (one MSE over all three channels). A codec whose smallest file is
still larger than the target is shown with a note instead of a picture; a codec this machine's
Pillow lacks (AVIF on older builds) likewise.

The result is one PNG (full views, downscaled to fit, and a row of zoomed crops, nearest-neighbour
upscaled so the artefacts stay visible) and, optionally, a self-contained HTML page with the
full-resolution decoded images, the zoom row and a table of the numbers.

Sizes: a plain number is bytes; KB and kB are 1000 bytes and MB 1000**2 bytes (as on a file
manager's label and in `aecodec compress --size`); KiB and MiB are 1024 and 1024**2. A --bpp
target is converted to bytes (bpp * width * height / 8) and treated the same way.

The comparison is on RGB: grayscale input is expanded to RGB and an alpha channel is dropped
(JPEG cannot carry it, and it would not be compared fairly).
"""
from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from . import compare_render
from .units import parse_box, parse_size  # noqa: F401 (parse_size is part of this API)
from .errors import InputError, TargetWarning
from .efforts import check_effort
from .images import pillow_has
from .inputs import ImageInput

VIEW_WIDTH = 384  # full views in the PNG are downscaled to at most this width
ZOOM_FACTOR = 4  # default nearest-neighbour upscale of the zoomed crop
PSNR_CAP = 100.0  # identical images: no lossy point reaches this


# --------------------------------------------------------------------------------- measuring
def psnr(ref: np.ndarray, out: np.ndarray) -> float:
    """PSNR of 8-bit RGB: one MSE over all three channels."""
    mse = np.mean((ref.astype(np.float64) - out.astype(np.float64)) ** 2)
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(255.0**2 / mse))


def most_detailed_region(rgb: np.ndarray, w: int, h: int,
                         block: int = 4) -> tuple[int, int, int, int]:
    """The w x h window with the highest local variance: the mean over the window of the luma
    variance of `block` x `block` blocks (texture and fine edges, where codecs differ most;
    a single big edge between two flat areas scores lower than a textured patch)."""
    H, W = rgb.shape[:2]
    w, h = min(w, W), min(h, H)
    luma = rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    bh, bw = H // block, W // block
    if bh == 0 or bw == 0 or w < block or h < block:
        return (W - w) // 2, (H - h) // 2, w, h
    b = luma[: bh * block, : bw * block].reshape(bh, block, bw, block)
    var = b.var(axis=(1, 3))
    nh, nw = h // block, w // block
    integral = np.zeros((bh + 1, bw + 1))
    integral[1:, 1:] = var.cumsum(0).cumsum(1)
    sums = (integral[nh:, nw:] - integral[:-nh, nw:] - integral[nh:, :-nw] + integral[:-nh, :-nw])
    by, bx = np.unravel_index(int(np.argmax(sums)), sums.shape)
    x, y = min(bx * block, W - w), min(by * block, H - h)
    return int(x), int(y), w, h


# --------------------------------------------------------------------------------- codecs
@dataclass
class Entry:
    """One codec's result at the target size."""

    codec: str
    settings: str
    quality: float | None = None
    data: bytes | None = None  # the whole file
    decoded: Image.Image | None = None  # RGB
    psnr: float | None = None
    note: str | None = None  # why there is no picture

    @property
    def ok(self) -> bool:
        return self.decoded is not None

    @property
    def nbytes(self) -> int | None:
        return None if self.data is None else len(self.data)

    @property
    def why(self) -> str:
        """What to show instead of a picture."""
        return self.note or "no picture"


def largest_within(encode: Callable[[int], bytes], lo: int, hi: int, target: int):
    """(quality, data) of the largest file <= target over integer qualities lo..hi, by
    bisection; (None, data at lo) when even the lowest quality is larger than the target."""
    lo_data = encode(lo)
    if len(lo_data) > target:
        return None, lo_data
    hi_data = encode(hi)
    if len(hi_data) <= target:
        return hi, hi_data
    while hi - lo > 1:
        mid = (lo + hi) // 2
        data = encode(mid)
        if len(data) <= target:
            lo, lo_data = mid, data
        else:
            hi = mid
    return lo, lo_data


def _too_big(entry: Entry, smallest: int, target: int, how: str) -> Entry:
    entry.note = (f"cannot reach {target:,} bytes: its smallest file ({how}) "
                  f"has {smallest:,} bytes")
    return entry


class PillowCodec:
    """A conventional codec through Pillow: quality qmin..qmax, options fixed per codec."""

    def __init__(self, label: str, fmt: str, feature: str, settings: str, qmin: int, qmax: int,
                 options: dict):
        self.label, self.fmt, self.feature, self.settings = label, fmt, feature, settings
        self.qmin, self.qmax, self.options = qmin, qmax, options

    def unavailable(self) -> str | None:
        if not pillow_has(self.feature):
            return (f"not available: Pillow {Image.__version__} here was built without "
                    f"{self.feature}")
        return None

    def encode(self, img: Image.Image, q: int) -> bytes:
        buf = io.BytesIO()
        img.save(buf, format=self.fmt, quality=q, **self.options)
        return buf.getvalue()

    def fit(self, img: Image.Image, target: int) -> Entry:
        entry = Entry(self.label, self.settings)
        why = self.unavailable()
        if why:
            entry.note = why
            return entry
        q, data = largest_within(lambda q: self.encode(img, q), self.qmin, self.qmax, target)
        if q is None:
            return _too_big(entry, len(data), target, f"quality {self.qmin}")
        entry.quality, entry.data = q, data
        with Image.open(io.BytesIO(data)) as im:
            entry.decoded = im.convert("RGB")
        return entry


class AecCodec:
    label = "aecodec"

    def __init__(self, codec=None, effort: int = 0):
        self._codec = codec
        self.effort = effort  # encoder effort (aecodec.efforts), 0 for the plain encoder

    @property
    def codec(self):
        if self._codec is None:
            from .codec import Codec
            self._codec = Codec()
        return self._codec

    @property
    def settings(self) -> str:
        effort = f", effort={self.effort}" if self.effort else ""
        return f"model {self.codec.model.model_id}, Codec.compress(size=target{effort})"

    def fit(self, img: Image.Image, target: int) -> Entry:
        from .container import read_header
        entry = Entry(self.label, self.settings)
        with warnings.catch_warnings():  # a target out of reach is the entry's note instead
            warnings.simplefilter("ignore", TargetWarning)
            data = self.codec.compress(img, size=target, effort=self.effort)
        if len(data) > target:
            return _too_big(entry, len(data), target, "quality 0")
        entry.quality, entry.data = read_header(data)[0].quality, data
        entry.decoded = self.codec.decompress(data).convert("RGB")
        return entry


def default_codecs(codec=None, effort: int = 0) -> list:
    """aecodec first, then the references in the order people know them."""
    return [
        AecCodec(codec, effort),
        PillowCodec("JPEG", "JPEG", "jpg", "libjpeg via Pillow, 4:2:0, optimize=True", 1, 100,
                    dict(subsampling="4:2:0", optimize=True)),
        PillowCodec("WebP", "WEBP", "webp", "libwebp via Pillow, lossy, method=6", 0, 100,
                    dict(method=6, lossless=False)),
        PillowCodec("AVIF", "AVIF", "avif", "libavif via Pillow, 4:4:4, speed=6", 0, 100,
                    dict(subsampling="4:4:4", speed=6, max_threads=1)),
    ]


# --------------------------------------------------------------------------------- comparison
@dataclass
class Comparison:
    name: str
    original: Image.Image  # RGB
    target: int  # bytes
    zoom: tuple[int, int, int, int]
    zoom_factor: int
    entries: list[Entry] = field(default_factory=list)

    @property
    def pixels(self) -> int:
        return self.original.width * self.original.height

    def bpp(self, nbytes: int) -> float:
        return 8 * nbytes / self.pixels

    def render_png(self, view_width: int = VIEW_WIDTH) -> Image.Image:
        return compare_render.render_png(self, view_width)

    def render_html(self) -> str:
        return compare_render.render_html(self)


def compare(image: ImageInput, *, size: int | str | None = None, bpp: float | None = None,
            zoom: tuple[int, int, int, int] | str | None = None, codecs: list | None = None,
            name: str | None = None, on_entry: Callable[[Entry], None] | None = None,
            view_width: int = VIEW_WIDTH, effort: int = 0) -> Comparison:
    """Encode `image` (path, PIL image or uint8 array) with every codec at the same size.

    Give exactly one of `size` (bytes, or a string such as '20KB') and `bpp` (bits per pixel of
    the whole file). `zoom` is the crop (x, y, w, h) shown enlarged; by default the most detailed
    region of the size that fills one panel at 4x. `effort` is aecodec's encoder effort
    (Codec.compress) when `codecs` is not given.
    """
    if (size is None) == (bpp is None):
        raise InputError("give exactly one of size and bpp")
    if codecs is None:
        codecs = default_codecs(effort=check_effort(effort))
    aec = next((c for c in codecs if isinstance(c, AecCodec)), None)
    if isinstance(image, (str, os.PathLike)):
        name = name or Path(image).name
        if aec is not None:
            img = aec.codec.open_image(image)  # the size limits are checked from the header
        else:
            from .reading import load_image
            img = load_image(image)
    else:
        from .images import open_image
        img = open_image(image)
    img = img.convert("RGB")
    w, h = img.size
    if size is not None:
        target = parse_size(size) if isinstance(size, str) else int(size)
    elif bpp is not None and bpp > 0:
        target = math.floor(bpp * w * h / 8)
    else:
        raise InputError(f"bpp must be positive, got {bpp}")
    if target < 1:
        raise InputError(f"the target must be at least one byte, got {target}")

    view_w, view_h = compare_render.view_size(w, h, view_width)
    if zoom is None:
        factor = ZOOM_FACTOR
        region = most_detailed_region(np.asarray(img), max(1, round(view_w / factor)),
                                      max(1, round(view_h / factor)))
    else:
        x, y, zw, zh = parse_box(zoom, "zoom") if isinstance(zoom, str) else tuple(map(int, zoom))
        if x < 0 or y < 0 or zw < 1 or zh < 1 or x + zw > w or y + zh > h:
            raise InputError(f"zoom {x},{y},{zw},{zh} is not inside the {w}x{h} image")
        region = (x, y, zw, zh)
        factor = max(1, min(8, round(view_w / zw)))

    result = Comparison(name or "image", img, target, region, factor)
    ref = np.asarray(img)
    for c in codecs:
        entry = c.fit(img, target)
        if entry.ok:
            entry.psnr = psnr(ref, np.asarray(entry.decoded))
        result.entries.append(entry)
        if on_entry:
            on_entry(entry)
    return result


def describe(e: Entry) -> str:
    """One plain line for a codec's result (what the command prints)."""
    if e.decoded is not None and e.nbytes is not None:
        bpp = 8 * e.nbytes / (e.decoded.width * e.decoded.height)
        return (f"{e.codec:<8} quality {e.quality:<6g} {e.nbytes:>9,} bytes  {bpp:.4f} bpp  "
                f"PSNR {e.psnr:.2f} dB")
    return f"{e.codec:<8} {e.note}"


__all__ = ["compare", "Comparison", "Entry", "parse_size", "psnr",
           "most_detailed_region", "largest_within", "default_codecs", "describe"]
