"""Rendering of an `aecodec compare` result (aecodec.compare.Comparison): one PNG of full views
and zoomed crops with their numbers, and a self-contained HTML page with the full-resolution
images inline, the zoom row and a table.
"""
from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:  # aecodec.compare imports this module to render its results
    from .compare import Comparison, Entry


def view_size(w: int, h: int, view_width: int) -> tuple[int, int]:
    """The size of a full view at most view_width wide (the aspect ratio kept)."""
    if w <= view_width:
        return w, h
    return view_width, max(1, round(h * view_width / w))


# --------------------------------------------------------------------------------- PNG
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


def render_png(c: Comparison, view_width: int) -> Image.Image:
    w, h = c.original.size
    view_w, view_h = view_size(w, h, view_width)
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


def render_html(c: Comparison) -> str:
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
