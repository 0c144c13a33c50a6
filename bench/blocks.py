"""What latent blocks (aecodec.nn.transforms.ResidualBottleneck) cost in decode and encode
time: the shipped default's transforms, stripped of any blocks they have, with 0, 1, 2, ...
blocks added, timed on a Kodak-sized image against a whole decode and encode of it with the
shipped model.

Timing does not depend on what the blocks learned, so the added blocks get random weights
(not the identity's zeros, which some kernels could shortcut). Each repetition times every
block count once, in turn, and the medians are compared, so machine noise hits all alike.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from .outputs import first_png, timed, write_results


def run(data: Path, out: Path, counts=(0, 1, 2, 3, 4, 6), reps: int = 7, log=print) -> dict:
    import torch
    from PIL import Image

    import aecodec
    from aecodec import weights
    from aecodec.model import extend, without_latent_blocks
    from aecodec.nn.transforms import is_latent_block

    src = first_png(data)
    img = Image.open(src).convert("RGB")
    lm = weights.load()
    nets = {}
    gen = torch.Generator().manual_seed(0)
    base = without_latent_blocks(lm.net)
    for k in counts:
        net = extend(base, latent_blocks=k).eval().requires_grad_(False)
        with torch.no_grad():
            for name, p in net.named_parameters():
                if is_latent_block(name):
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        nets[k] = net.to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, img.height, img.width).contiguous(memory_format=torch.channels_last)
    codec = aecodec.Codec()
    data_aec = codec.compress(img, quality=55)
    with torch.no_grad():
        y = nets[0].g_a(x)
    times = {k: {"g_a": [], "g_s": []} for k in counts}
    whole = {"encode": [], "decode": []}
    with torch.no_grad():
        for rep in range(reps):
            whole["encode"].append(timed(codec.compress, img, 55)[0])
            whole["decode"].append(timed(codec.decompress, data_aec)[0])
            for k in counts:
                times[k]["g_a"].append(timed(nets[k].g_a, x)[0])
                times[k]["g_s"].append(timed(nets[k].g_s, y)[0])
            log(f"repetition {rep + 1}/{reps}")
    med = {k: {t: statistics.median(v) for t, v in d.items()} for k, d in times.items()}
    enc, dec = statistics.median(whole["encode"]), statistics.median(whole["decode"])
    rows = [{"blocks": k, "g_a_s": med[k]["g_a"], "g_s_s": med[k]["g_s"],
             "encode_share": (med[k]["g_a"] - med[0]["g_a"]) / enc,
             "decode_share": (med[k]["g_s"] - med[0]["g_s"]) / dec,
             "params_m": sum(p.numel() for n, p in nets[k].named_parameters()
                             if is_latent_block(n)) / 1e6}
            for k in counts]
    res = {"image": src.name, "size": [img.width, img.height], "model": lm.model_id,
           "threads": torch.get_num_threads(), "reps": reps, "encode_s": enc, "decode_s": dec,
           "rows": rows}
    return write_results(out, "blocks", res, _markdown)


def _markdown(res: dict) -> str:
    w, h = res["size"]
    md = [f"# Latent blocks: cost on {res['image']} ({w}x{h}), {res['threads']} thread(s), "
          f"medians of {res['reps']}",
          "",
          f"Whole-file encode {res['encode_s']:.3f} s, decode {res['decode_s']:.3f} s with "
          f"`{res['model']}` (quality 55); the last two columns add the blocks' time to them.",
          "",
          "| blocks (each in g_a and g_s) | added params (M) | g_a (s) | g_s (s) "
          "| encode + | decode + |",
          "|---|---|---|---|---|---|"]
    md += [f"| {r['blocks']} | {r['params_m']:.2f} | {r['g_a_s']:.3f} | {r['g_s_s']:.3f} "
           f"| {100 * r['encode_share']:+.1f} % | {100 * r['decode_share']:+.1f} % |"
           for r in res["rows"]]
    return "\n".join(md) + "\n"
