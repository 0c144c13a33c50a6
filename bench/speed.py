"""aecodec against CompressAI's models of the same size, timed interleaved: each image is
coded by every codec in turn, `reps` times, and each codec keeps its best time per image.

`python -m bench run` times each codec over the whole sweep, one codec after the other, so a
machine that slows down or speeds up between them (shared cores) moves the ratio; here every
codec sees the same moments, which is what the speed bar (decode no slower than
bmshj2018-hyperprior, encode within 1.5x) needs. aecodec's times are whole files from and to
PIL images; CompressAI's are model.compress / model.decompress on tensors with random
weights (bench/speed_compressai.py), which flatters CompressAI slightly.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from .outputs import timed, write_results

IMAGES = ("kodim01.png", "kodim04.png", "kodim07.png", "kodim13.png", "kodim15.png", "kodim23.png")


def run(data: Path, out: Path, quality: float = 50, reps: int = 3, images=IMAGES,
        log=print) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    import aecodec

    from . import speed_compressai as sc

    try:
        cm, how = sc.import_models()
    except ImportError as e:
        raise SystemExit(f"bench speed needs compressai ({e}); bench/README.md says how to "
                         "install it beside a CPU-only torch") from None
    peers = {name: sc.build(cm, name) for name in sc.MODELS}
    codec = aecodec.Codec()
    names = ["aecodec", *peers]
    best = {n: {"encode": [], "decode": []} for n in names}
    per_image = []
    with torch.no_grad():
        for file in images:
            img = Image.open(Path(data) / file).convert("RGB")
            x = sc.padded_input(np.asarray(img))
            codec.decompress(codec.compress(img, quality))  # untimed warm-up
            times = {n: {"encode": float("inf"), "decode": float("inf")} for n in names}
            def keep_best(name, enc, dec):
                t = times[name]
                t["encode"], t["decode"] = min(enc, t["encode"]), min(dec, t["decode"])

            for _ in range(reps):
                enc, aec = timed(codec.compress, img, quality)
                keep_best("aecodec", enc, timed(codec.decompress, aec)[0])
                for name, model in peers.items():
                    enc, s = timed(model.compress, x)
                    keep_best(name, enc, timed(model.decompress, **sc.decompress_args(s))[0])
            for n in names:
                for k in ("encode", "decode"):
                    best[n][k].append(times[n][k])
            per_image.append({"image": file, **times})
            log(f"{file}: " + ", ".join(f"{n} {t['encode']:.3f}/{t['decode']:.3f} s"
                                        for n, t in times.items()))
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in best.items()}
    res = {"model": codec.model.model_id, "quality": quality, "reps": reps,
           "threads": torch.get_num_threads(), "compressai": how, "median": med,
           "ratio": {name: {k: med["aecodec"][k] / med[name][k] for k in ("encode", "decode")}
                     for name in peers},
           "images": per_image}
    return write_results(out, "speed", res, _markdown)


def _markdown(res: dict) -> str:
    md = [f"# Speed, interleaved: aecodec `{res['model']}` (quality {res['quality']:g}) and "
          f"CompressAI, {res['threads']} thread(s)",
          "",
          f"Per image, the best of {res['reps']} interleaved repetitions; medians over "
          f"{len(res['images'])} Kodak images. CompressAI: {res['compressai']}, random weights, "
          "N=128 M=192, on tensors.",
          "",
          "| codec | encode s | decode s | aecodec encode / this | aecodec decode / this |",
          "|---|---:|---:|---:|---:|"]
    for name, m in res["median"].items():
        r = res["ratio"].get(name)
        ratios = f"{r['encode']:.2f}x | {r['decode']:.2f}x" if r else "- | -"
        md.append(f"| {name} | {m['encode']:.3f} | {m['decode']:.3f} | {ratios} |")
    return "\n".join(md) + "\n"
