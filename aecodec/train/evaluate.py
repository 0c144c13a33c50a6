"""A quick rate-distortion estimate on a few evaluation images during training.

Uses the training model with hard rounding and the likelihood estimate of the rate; the
real numbers (whole files through the entropy coder) come from bench/.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


@torch.no_grad()
def estimate(model, x: torch.Tensor, level: float) -> tuple[float, float]:
    """(bpp, psnr) of one image x (1, 3, H, W) in [0, 1] at a level, rate from likelihoods."""
    h, w = x.shape[2:]
    ph, pw = (-h) % 64, (-w) % 64
    xp = F.pad(x, (0, pw, 0, ph), mode="replicate")
    t = torch.tensor([float(level)], device=x.device)
    gain, inv_gain = model.gains(t)
    bits_y, bits_z, y_hat, mean = model.rate(model.g_a(xp) * gain, noise=False)
    bits = bits_y + bits_z
    x_hat = model.synthesize(model.reconstruct(y_hat, mean) * inv_gain, t)[:, :, :h, :w].clamp(0, 1)
    mse = F.mse_loss(torch.round(x_hat * 255), torch.round(x * 255)).item()
    return bits.item() / (h * w), 10 * np.log10(255**2 / max(mse, 1e-10))


def quick_eval(model, folder: str, images: int = 4, levels=(0, 3, 7)) -> list[dict]:
    paths = sorted(Path(folder).glob("*.png"))[:images]
    xs = [torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1)[None]
          .float() / 255 for p in paths]
    device = next(model.parameters()).device
    xs = [x.to(device) for x in xs]
    was_training = model.training
    model.eval()
    out = []
    for level in levels:
        if level > model.config.levels - 1:
            continue
        r = [estimate(model, x, level) for x in xs]
        out.append({"level": level, "bpp": round(float(np.mean([a for a, _ in r])), 4),
                    "psnr": round(float(np.mean([b for _, b in r])), 3)})
    model.train(was_training)
    return out
