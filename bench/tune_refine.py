"""Tune refinement's settings (aecodec.efforts.EFFORTS): the fall of the rate-distortion cost
(lambda * 255^2 * MSE + bpp, hard rounding, the surrogate model's estimate) on 256 px crops,
for STEPS:LEARNING_RATE pairs, at levels 0.5, 3.5 and 6.5.

    python bench/tune_refine.py --images train 10:0.01 10:0.02 30:0.01 30:0.02 60:0.007 60:0.01

`--images train` takes four photos of ../shared/data/train (every 400th), `kodak` four Kodak
images. The numbers behind EFFORTS are in bench/README.md ("Encoder effort").
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's aecodec
from aecodec import refine, weights  # noqa: E402
from aecodec.hardware import native_bf16  # noqa: E402
from aecodec.tiling import LATENT, Box  # noqa: E402

LEVELS = (0.5, 3.5, 6.5)
CROP = 256


def crops(which: str, data: Path) -> list[torch.Tensor]:
    if which == "train":
        files = sorted((data / "train").glob("*.jpg"))[::400][:4]
    else:
        files = [data / "kodak" / f"kodim{n}.png" for n in ("01", "04", "08", "15")]
    out = []
    for f in files:
        a = np.asarray(Image.open(f).convert("RGB"))[:CROP, :CROP]
        out.append(torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", help="STEPS:LEARNING_RATE")
    ap.add_argument("--images", choices=("train", "kodak"), default="train")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    a = ap.parse_args()
    net = refine.surrogate(weights.load(), torch.device("cpu"))
    images = crops(a.images, a.data)
    valid = (CROP, CROP)
    bf16 = native_bf16(torch.device("cpu"))
    for pair in a.pairs:
        steps, lr = int(pair.split(":")[0]), float(pair.split(":")[1])
        t0, change = time.perf_counter(), []
        for level in LEVELS:
            t = torch.tensor([level])
            gain, _ = net.gains(t)
            per_level = []
            for x in images:
                win = refine.Window(x, valid, Box(0, 0, CROP // LATENT, CROP // LATENT), None)
                with torch.no_grad():
                    y0 = net.g_a(x) * gain
                    z0 = net.h_a(y0)
                    before = refine.rd_loss(net, win, y0, z0, t, torch.round, bf16).item()
                y, z = refine.refine_block(net, win, y0, z0, t, steps, lr, bf16,
                                           torch.Generator().manual_seed(1))
                with torch.no_grad():
                    after = refine.rd_loss(net, win, y, z, t, torch.round, bf16).item()
                per_level.append(100 * (after / before - 1))
            change.append(float(np.mean(per_level)))
        print(f"{steps} steps, lr {lr}: cost change at levels {LEVELS}: "
              + " ".join(f"{c:+.2f} %" for c in change)
              + f", mean {np.mean(change):+.2f} % ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
