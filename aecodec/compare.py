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

import base64
import html
import io
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .units import parse_box, parse_size  # noqa: F401 (parse_size is part of this API)
from .errors import InputError, TargetWarning
from .efforts import MAX_EFFORT, check_effort
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
        return _render_png(self, view_width)

    def render_html(self) -> str:
        return _render_html(self)


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

    view_w, view_h = _view_size(w, h, view_width)
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


# --------------------------------------------------------------------------------- PNG
def _view_size(w: int, h: int, view_width: int) -> tuple[int, int]:
    if w <= view_width:
        return w, h
    return view_width, max(1, round(h * view_width / w))


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled FreeType font
    except (TypeError, AttributeError, OSError, ImportError):  # old Pillow or no FreeType
        return ImageFont.load_default()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def _labels(c: Comparison, e: Entry | None) -> list[str]:
    if e is None:
        return ["original", f"{c.original.width}x{c.original.height}", "lossless"]
    if not e.ok or e.nbytes is None:
        return [e.codec]
    return [f"{e.codec}  (quality {e.quality:g})",
            f"{e.nbytes:,} bytes  {c.bpp(e.nbytes):.3f} bpp", f"PSNR {e.psnr:.2f} dB"]


def _render_png(c: Comparison, view_width: int) -> Image.Image:
    w, h = c.original.size
    view_w, view_h = _view_size(w, h, view_width)
    zx, zy, zw, zh = c.zoom
    tile_w, tile_h = zw * c.zoom_factor, zh * c.zoom_factor
    font, small, title_font = _font(15), _font(13), _font(18)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = int(probe.textbbox((0, 0), "Ag", font=font)[3]) + 5
    margin, gap = 16, 12
    panels = [None] + c.entries
    # a column is as wide as its pictures or its labels; a note wraps within at least 220 px
    col_w = max([view_w, tile_w] + [math.ceil(probe.textlength(t, font=font)) + 8
                                    for e in panels if e is None or e.ok for t in _labels(c, e)])
    if not all(e.ok for e in c.entries):
        col_w = max(col_w, 220)
    labels = [_labels(c, e) if e is None or e.ok else [e.codec] + _wrap(probe, e.why, font, col_w)
              for e in panels]
    label_h = max(len(lines) for lines in labels) * line_h + 6
    n = len(panels)
    title = (f"{c.name}: {w}x{h}, every codec at <= {c.target:,} bytes "
             f"({c.bpp(c.target):.3f} bpp)")
    title_h = line_h + 14
    foot = [f"Each codec: its largest whole file <= {c.target:,} bytes "
            f"({c.bpp(c.target):.3f} bpp), found by bisection over quality; PSNR on 8-bit RGB.",
            "Top: full images" + (f" (downscaled from {w}x{h})" if view_w < w else "")
            + f". Bottom: the red box, {zw}x{zh} px at {c.zoom_factor}x (nearest neighbour)."]
    foot += [f"{e.codec}: {e.settings}" for e in c.entries]
    foot_h = len(foot) * (line_h - 2) + 8
    width = max([n * col_w + (n - 1) * gap, math.ceil(probe.textlength(title, font=title_font))]
                + [math.ceil(probe.textlength(t, font=small)) for t in foot]) + 2 * margin
    height = margin + title_h + view_h + label_h + gap + tile_h + gap + foot_h + margin
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((margin, margin), title, fill=(20, 20, 20), font=title_font)
    top = margin + title_h
    zoom_top = top + view_h + label_h + gap
    sx, sy = view_w / w, view_h / h
    for i, (e, lines) in enumerate(zip(panels, labels)):
        x0 = margin + i * (col_w + gap)
        pic = c.original if e is None else e.decoded
        if pic is not None:
            view = pic if view_w == w else pic.resize((view_w, view_h), Image.Resampling.LANCZOS)
            canvas.paste(view, (x0, top))
            box = (x0 + round(zx * sx), top + round(zy * sy),
                   x0 + round((zx + zw) * sx) - 1, top + round((zy + zh) * sy) - 1)
            draw.rectangle(box, outline=(230, 20, 20), width=2)
            crop = pic.crop((zx, zy, zx + zw, zy + zh)).resize((tile_w, tile_h), Image.Resampling.NEAREST)
            canvas.paste(crop, (x0, zoom_top))
        else:  # grey boxes where the pictures would be; the note is in the labels below
            for y0, hh in ((top, view_h), (zoom_top, tile_h)):
                draw.rectangle((x0, y0, x0 + max(view_w, tile_w) - 1, y0 + hh - 1),
                               fill=(236, 236, 236), outline=(190, 190, 190))
                draw.text((x0 + 8, y0 + 6), "no picture", fill=(120, 120, 120), font=small)
        for j, line in enumerate(lines):
            colour = ((20, 20, 20) if j == 0 else (70, 70, 70) if e is None or e.ok
                      else (160, 20, 20))
            draw.text((x0, top + view_h + 4 + j * line_h), line, fill=colour, font=font)
    fy = height - margin - foot_h + 8
    for line in foot:
        draw.text((margin, fy), line, fill=(90, 90, 90), font=small)
        fy += line_h - 2
    return canvas


# --------------------------------------------------------------------------------- HTML
def _data_uri(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_CSS = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: right; }
th:first-child, td:first-child, .text { text-align: left; }
.row { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; max-width: 100%; }
figure img.full { max-width: 100%; height: auto; display: block; }
figure img.zoom { image-rendering: pixelated; display: block; }
figcaption { font-size: 14px; margin-top: .3em; }
.pic { position: relative; }
.box { position: absolute; outline: 2px solid #e61414; pointer-events: none; }
.missing { max-width: 100%; background: #eee; color: #922; padding: 1em; box-sizing: border-box; }
.foot { color: #666; font-size: 13px; }
"""

# Marks the page once every image has loaded (naturalWidth > 0): the headless-browser check
# (bench/check_compare_html.py) reads data-images-loaded / data-images-total from the DOM.
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", ok);
  document.body.setAttribute("data-images-total", imgs.length);
  var s = document.getElementById("load-status");
  if (s) s.textContent = ok + " of " + imgs.length + " images loaded.";
});
"""


def _render_html(c: Comparison) -> str:
    esc = html.escape
    w, h = c.original.size
    zx, zy, zw, zh = c.zoom
    f = c.zoom_factor
    panels = [("original", None)] + [(e.codec, e) for e in c.entries]
    rows = [f"<tr><td>original</td><td class=text>{w}x{h} RGB</td>" + "<td></td>" * 4 + "</tr>"]
    for e in c.entries:
        if e.ok and e.nbytes is not None:
            rows.append(f"<tr><td>{esc(e.codec)}</td><td class=text>{esc(e.settings)}</td>"
                        f"<td>{e.quality:g}</td><td>{e.nbytes:,}</td><td>{c.bpp(e.nbytes):.4f}</td>"
                        f"<td>{e.psnr:.2f}</td></tr>")
        else:
            rows.append(f"<tr><td>{esc(e.codec)}</td><td class=text colspan=5>{esc(e.why)}"
                        "</td></tr>")

    # the zoomed region, outlined on the full images (in percent: they may be shown smaller)
    box_style = (f"left:{100 * zx / w:.3f}%;top:{100 * zy / h:.3f}%;"
                 f"width:{100 * zw / w:.3f}%;height:{100 * zh / h:.3f}%")

    def figures(zoomed: bool) -> str:
        out = []
        for label, e in panels:
            pic = c.original if e is None else e.decoded
            cap = "<br>".join(map(esc, _labels(c, e) if e is None or e.ok else [label]))
            if pic is None:
                assert e is not None  # the original is always there
                box = (zw * f, zh * f) if zoomed else (min(w, 512), min(h, 512))
                out.append(f'<figure style="width:{box[0]}px"><div class="missing" '
                           f'style="width:{box[0]}px;height:{box[1]}px">{esc(e.why)}</div>'
                           f"<figcaption>{cap}</figcaption></figure>")
            elif zoomed:
                crop = pic.crop((zx, zy, zx + zw, zy + zh))
                out.append(f'<figure style="width:{zw * f}px"><img class="zoom" '
                           f'src="{_data_uri(crop)}" width="{zw * f}" height="{zh * f}" '
                           f'alt="{esc(label)}, zoomed"><figcaption>{cap}</figcaption></figure>')
            else:
                out.append(f'<figure style="width:{w}px"><div class="pic"><img class="full" '
                           f'src="{_data_uri(pic)}" width="{w}" height="{h}" alt="{esc(label)}">'
                           f'<span class="box" style="{box_style}"></span></div>'
                           f"<figcaption>{cap}</figcaption></figure>")
        return "\n".join(out)

    title = f"{c.name}: every codec at ≤ {c.target:,} bytes ({c.bpp(c.target):.3f} bpp)"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(title)}</title>
<style>{_CSS}</style>
<script>{_SCRIPT}</script>
</head>
<body>
<h1>{esc(title)}</h1>
<p>{w}x{h} pixels. Each codec: its largest whole file not above the target, found by bisection
over its quality setting. PSNR on the 8-bit RGB planes (one MSE over all three channels).</p>
<table>
<tr><th>codec</th><th class=text>settings</th><th>quality</th><th>bytes</th><th>bpp</th>
<th>PSNR (dB)</th></tr>
{chr(10).join(rows)}
</table>
<h2>Zoom: {zw}x{zh} pixels at ({zx}, {zy}), {f}x, nearest neighbour</h2>
<div class="row">
{figures(True)}
</div>
<h2>Full images (decoded, at full resolution)</h2>
<div class="row">
{figures(False)}
</div>
<p class="foot">Made by <code>aecodec compare</code>. <span id="load-status"></span></p>
</body>
</html>
"""


# --------------------------------------------------------------------------------- command
def _click_size(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_size(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


def _click_zoom(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_box(value, "zoom")
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("compare")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--size", type=str, default=None, callback=_click_size,
              help="Target file size: 20000, 20KB (KB = 1000 bytes), 1.5MB, 64KiB (= 1024).")
@click.option("--bpp", type=click.FloatRange(0, min_open=True), default=None,
              help="Target bits per pixel of the whole file, instead of --size.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The PNG to write (default: IMAGE's name + '.compare.png', in this folder).")
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write a self-contained HTML page (images inline, table of numbers).")
@click.option("--zoom", type=str, default=None, callback=_click_zoom,
              help="Region to enlarge, x,y,w,h in pixels (default: the most detailed one).")
@click.option("--effort", type=click.IntRange(0, MAX_EFFORT), default=0, show_default=True,
              help="aecodec's encoder effort (see aecodec compress --help).")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
def compare_command(image: Path, size: int | None, bpp: float | None, output: Path | None,
                    html_out: Path | None, zoom, effort: int, force: bool):
    """Show aecodec, JPEG, WebP and AVIF at the same file size, side by side.

    \b
    aecodec compare photo.png --size 20KB            -> photo.compare.png
    aecodec compare photo.png --bpp 0.3 --html p.html --zoom 300,120,96,64

    Every codec gets its largest file not above the target; the PNG shows each decoded image,
    a zoomed crop and its bytes, bpp and PSNR.
    """
    from .cli import _run  # imported here: cli.py imports this module to register the command
    from .output import check_output, write_atomic

    if (size is None) == (bpp is None):
        raise click.UsageError("give exactly one of --size and --bpp")
    png_out = output or Path(f"{image.stem}.compare.png")

    def job():
        if html_out is not None and html_out.resolve() == png_out.resolve():
            raise InputError("the PNG and the HTML output are the same file")
        for out in (png_out,) + ((html_out,) if html_out else ()):
            check_output(out, force, (image,))  # before the work, and again when writing
        result = compare(image, size=size, bpp=bpp, zoom=zoom, effort=effort,
                         on_entry=lambda e: click.echo(describe(e)))
        png = result.render_png()
        write_atomic(png_out, lambda tmp: png.save(tmp, format="PNG", optimize=True), force,
                     (image,))
        click.echo(f"-> {png_out} ({png.width}x{png.height})")
        if html_out is not None:
            page = result.render_html()
            write_atomic(html_out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"), force,
                         (image,))
            click.echo(f"-> {html_out}")
    _run(job)


def describe(e: Entry) -> str:
    """One plain line for a codec's result (what the command prints)."""
    if e.decoded is not None and e.nbytes is not None:
        bpp = 8 * e.nbytes / (e.decoded.width * e.decoded.height)
        return (f"{e.codec:<8} quality {e.quality:<6g} {e.nbytes:>9,} bytes  {bpp:.4f} bpp  "
                f"PSNR {e.psnr:.2f} dB")
    return f"{e.codec:<8} {e.note}"


__all__ = ["compare", "Comparison", "Entry", "parse_size", "psnr",
           "most_detailed_region", "largest_within", "default_codecs", "describe",
           "compare_command"]
