"""The post-filter (aecodec.postfilter, aecodec.wiener): what each filter shape buys on its own.

Every image is coded at effort 0 at the Kodak sweep's qualities and decoded; then each shape
is fitted to the decoded pixels as the encoder would, and kept only where it lowers the
rate-distortion cost (lambda * MSE + bits per pixel, its PFLT chunk counted). Per shape: mean
bpp and PSNR per quality, the BD-rate against the unfiltered files and the mean bytes of the
filters kept; "chosen" is what the encoder sends (the best of its shapes, or none). The
encoder fits filters at effort 1 and above only (it needs a synthesis pass); this bench
measures the filter on plain latents so its gain is attributable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import metrics
from .outputs import write_results

QUALITIES = (0, 10, 25, 40, 55, 70, 85, 100)
SHAPES = ((2, 1), (3, 0), (3, 2), (4, 3), (5, 3), (6, 4))  # (radius, cross) of aecodec.postfilter


def run(data: Path, out: Path, images: int | None = None, qualities=QUALITIES, shapes=SHAPES,
        log=print) -> dict:
    import torch
    from PIL import Image

    import aecodec
    from aecodec import wiener
    from aecodec.codec import quality_to_level

    codec = aecodec.Codec()
    lm = codec.model
    names = sorted(p.name for p in Path(data).iterdir() if p.suffix.lower() == ".png")[:images]
    arms = ["plain", *(f"{r}/{c}" for r, c in shapes), "chosen"]
    rows = []
    for name in names:
        with Image.open(Path(data) / name) as im:
            ref = np.asarray(im.convert("RGB"))
        pixels = ref.shape[0] * ref.shape[1]
        for q in qualities:
            blob = codec.compress(ref, quality=q)
            decoded = np.asarray(codec.decompress(blob).convert("RGB"))
            lam = float(lm.net.lambdas(torch.tensor([quality_to_level(q, lm.config.levels)]))[0])
            plain = {"bytes": len(blob), "mse": wiener.mse(decoded, ref), "filter_bytes": 0}
            result = {"plain": plain}
            # each shape alone, and the encoder's own choice, decided as the encoder decides
            for arm, arm_shapes in [*((f"{r}/{c}", [(r, c)]) for r, c in shapes),
                                    ("chosen", wiener.SHAPES)]:
                pf = wiener.choose(ref, decoded, lam, arm_shapes)
                if pf is None:
                    result[arm] = plain
                else:
                    filtered_mse, extra = wiener.trial(pf, ref, decoded)
                    result[arm] = {"bytes": len(blob) + extra, "mse": filtered_mse,
                                   "filter_bytes": extra}
            for arm in arms:
                r = result[arm]
                rows.append({"image": name, "quality": q, "arm": arm,
                             "bpp": 8 * r["bytes"] / pixels,
                             "psnr": 10 * np.log10(255**2 / r["mse"]),
                             "filter_bytes": r["filter_bytes"]})
            log(f"  {name} q{q}: plain {result['plain']['bytes']} B, chosen "
                f"+{result['chosen']['filter_bytes']} B "
                f"{10 * np.log10(plain['mse'] / result['chosen']['mse']):+.3f} dB")
    res = {"model": lm.model_id, "images": names, "qualities": list(qualities),
           "precision": wiener.PRECISION, "encoder_shapes": [list(s) for s in wiener.SHAPES],
           "rows": rows, "summary": summarize(rows, arms, qualities)}
    return write_results(out, "postfilter", res, markdown)


def summarize(rows: list[dict], arms, qualities) -> dict:
    curves = metrics.mean_curves(rows, "arm", arms, qualities)
    out = {}
    for a in arms:
        bd = metrics.bd_rate(curves["plain"], curves[a])[0] if a != "plain" else 0.0
        kept = [r["filter_bytes"] for r in rows if r["arm"] == a and r["filter_bytes"]]
        out[a] = {"bpp": curves[a][0], "psnr": curves[a][1], "bd_rate_vs_plain": bd,
                  "kept_fraction": len(kept) / max(1, sum(r["arm"] == a for r in rows)),
                  "mean_filter_bytes": float(np.mean(kept)) if kept else 0.0}
    return out


def markdown(res: dict) -> str:
    qs = res["qualities"]
    L = [f"# Post-filter, model {res['model']}", "",
         f"{len(res['images'])} images, effort-0 files, weights in units of "
         f"2^-{res['precision']}. Shape r/c: own-channel diamond of radius r; cross-channel "
         "terms c (0 none, 1 centre differences, c > 1 also a diamond of radius c - 1). A "
         "filter is kept where it lowers lambda * MSE + bpp. The encoder sends `chosen`: the "
         f"best of shapes {', '.join('%d/%d' % tuple(s) for s in res['encoder_shapes'])}, or none.",
         "", "| arm | BD-rate vs plain | kept | mean bytes kept | "
         + " | ".join(f"q{q} dB gain" for q in qs) + " |",
         "|---|---:|---:|---:|" + "---:|" * len(qs)]
    base = res["summary"]["plain"]["psnr"]
    for arm, s in res["summary"].items():
        if arm == "plain":
            continue
        gains = " | ".join(f"{p - b:+.3f}" for p, b in zip(s["psnr"], base))
        L.append(f"| {arm} | {s['bd_rate_vs_plain']:+.2f} % | {100 * s['kept_fraction']:.0f} % | "
                 f"{s['mean_filter_bytes']:.0f} | {gains} |")
    return "\n".join(L) + "\n"
