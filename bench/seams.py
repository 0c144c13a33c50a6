"""Do tiles show? The same large image coded tiled (the default) and untiled, both decoded.

Tiles are coded independently (each has its own z), so a seam would show up as lower PSNR of
the tiled file at equal quality, or a different size. The decoder synthesizes both files the
same way (overlapping windows), so this isolates what tiling the *file* costs.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .outputs import first_png, write_results


def psnr(a, b) -> float:
    err = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(10 * np.log10(255**2 / max(np.mean(err**2), 1e-12)))


def run(data: Path, out: Path, width: int, height: int, qualities=(25, 70), log=print) -> dict:
    from PIL import Image

    import aecodec
    from aecodec import container

    src = first_png(data)
    with Image.open(src) as im:
        img = im.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    rows = []
    for q in qualities:
        row = {"quality": q}
        for label, tile in (("tiled", aecodec.codec.tiling.DEFAULT_TILE), ("untiled", None)):
            codec = aecodec.Codec(tile_size=tile, max_pixels=None, max_dimension=None)
            t0 = time.perf_counter()
            data = codec.compress(img, quality=q)
            decoded = codec.decompress(data)
            row[label] = {"bytes": len(data), "bpp": 8 * len(data) / (width * height),
                          "psnr": psnr(decoded, img), "seconds": time.perf_counter() - t0,
                          "tiles": len(container.decode_file(data, max_pixels=None).tiles)}
            if label == "tiled":
                tiled_pixels = np.asarray(decoded)
            else:
                row["max_pixel_difference"] = int(np.abs(
                    tiled_pixels.astype(np.int16) - np.asarray(decoded, np.int16)).max())
        row["psnr_difference_db"] = row["tiled"]["psnr"] - row["untiled"]["psnr"]
        log(f"  q={q}: tiled {row['tiled']['bpp']:.4f} bpp {row['tiled']['psnr']:.3f} dB "
            f"({row['tiled']['tiles']} tiles), untiled {row['untiled']['bpp']:.4f} bpp "
            f"{row['untiled']['psnr']:.3f} dB: difference {row['psnr_difference_db']:+.3f} dB")
        rows.append(row)
    res = {"source": src.name, "width": width, "height": height, "rows": rows}
    return write_results(out, "seams", res, markdown)


def markdown(res: dict) -> str:
    L = [f"# Tiled vs untiled: {res['source']} upscaled to {res['width']}x{res['height']}", "",
         "| quality | tiles | tiled bpp | tiled PSNR | untiled bpp | untiled PSNR | PSNR difference | "
         "max pixel difference |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        t, u = r["tiled"], r["untiled"]
        L.append(f"| {r['quality']} | {t['tiles']} | {t['bpp']:.4f} | {t['psnr']:.3f} | {u['bpp']:.4f} | "
                 f"{u['psnr']:.3f} | {r['psnr_difference_db']:+.3f} dB | {r['max_pixel_difference']} |")
    return "\n".join(L) + "\n"
