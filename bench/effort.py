"""Encoder effort (aecodec.efforts): what the post-filter and refining each image's
latents buy and what they cost.

Every effort codes the same images at the same quality settings. Per effort: mean bpp and PSNR
per quality, the BD-rate against effort 0 over those points (a small curve: the Kodak sweep,
`python -m bench run --codecs aecodec-effort2`, gives the full one against JPEG), and encode
time as a ratio to effort 0's in the same run, image by image (a shared machine's drift
cancels; seconds are reported too). Decoding is the same for every effort and is not timed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import metrics
from .outputs import timed, write_results

IMAGES = ("kodim01.png", "kodim15.png", "kodim23.png")
QUALITIES = (10, 40, 70, 100)


def run(data: Path, out: Path, images=IMAGES, qualities=QUALITIES, efforts=None,
        log=print) -> dict:
    from PIL import Image

    import aecodec
    from aecodec.efforts import EFFORTS

    efforts = tuple(range(len(EFFORTS))) if efforts is None else tuple(efforts)
    codec = aecodec.Codec()
    rows = []
    with Image.open(Path(data) / images[0]) as im:  # untimed: builds refinement's float model
        codec.compress(im.convert("RGB").crop((0, 0, 64, 64)), effort=max(efforts))
    for name in images:
        with Image.open(Path(data) / name) as im:
            img = im.convert("RGB")
        ref = np.asarray(img)
        for q in qualities:
            for e in efforts:
                seconds, blob = timed(codec.compress, img, quality=q, effort=e)
                out_img = np.asarray(codec.decompress(blob).convert("RGB"))
                rows.append({"image": name, "quality": q, "effort": e,
                             "bpp": metrics.bpp(len(blob), ref.shape),
                             "psnr": metrics.psnr(ref, out_img), "encode_s": seconds})
                log(f"  {name} q{q} effort {e}: {rows[-1]['bpp']:.4f} bpp "
                    f"{rows[-1]['psnr']:.3f} dB {seconds:.1f} s")
    res = {"model": codec.model.model_id, "images": list(images), "qualities": list(qualities),
           "settings": {e: {"steps": EFFORTS[e].steps, "learning_rate": EFFORTS[e].lr,
                            "postfilter": EFFORTS[e].postfilter} for e in efforts},
           "rows": rows, "summary": summarize(rows, efforts, qualities)}
    return write_results(out, "effort", res, markdown)


def summarize(rows: list[dict], efforts, qualities) -> dict:
    curves = metrics.mean_curves(rows, "effort", efforts, qualities)
    base = efforts[0]
    base_s = {(r["image"], r["quality"]): r["encode_s"] for r in rows if r["effort"] == base}
    out = {}
    for e in efforts:
        ratios = [r["encode_s"] / base_s[r["image"], r["quality"]] for r in rows
                  if r["effort"] == e]
        bd, lo, hi = metrics.bd_rate(curves[base], curves[e]) if e != base else (0.0, 0, 0)
        out[e] = {"bpp": curves[e][0], "psnr": curves[e][1], "bd_rate_vs_effort0": bd,
                  "encode_time_ratio": float(np.median(ratios)),
                  "encode_s_median": float(np.median([r["encode_s"] for r in rows
                                                      if r["effort"] == e]))}
    return out


def markdown(res: dict) -> str:
    qs = res["qualities"]
    L = [f"# Encoder effort, model {res['model']}", "",
         f"Images: {', '.join(res['images'])}; mean over them at each quality setting. "
         "BD-rate against effort 0 over these points (PCHIP on log-rate); encode time as the "
         "median ratio to effort 0 on the same image and quality in the same run.", "",
         "| effort | steps | post-filter | BD-rate vs effort 0 | encode time vs effort 0 | "
         "median encode s | " + " | ".join(f"q{q} bpp / dB" for q in qs) + " |",
         "|---:|---:|---|---:|---:|---:|" + "---|" * len(qs)]
    for e, s in res["summary"].items():
        setting = res["settings"][e]
        cells = " | ".join(f"{b:.4f} / {p:.2f}" for b, p in zip(s["bpp"], s["psnr"]))
        L.append(f"| {e} | {setting['steps']} | {'yes' if setting['postfilter'] else 'no'} | "
                 f"{s['bd_rate_vs_effort0']:+.2f} % | "
                 f"{s['encode_time_ratio']:.1f}x | {s['encode_s_median']:.2f} | {cells} |")
    return "\n".join(L) + "\n"
