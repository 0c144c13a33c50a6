"""Fine-tune only the decoder side (g_s, residual prediction, inverse gains, the restoration
network) of a trained model.

    python -m aecodec.train.decoder --resume runs/cc5/last.ckpt --minutes 30 --out runs/dec5
    python -m aecodec.train.export runs/dec5/last.ckpt --model-id cc-vN

Everything that decides the bits (g_a, the gains, h_a, h_s, the context) stays frozen, so the
rate of every image at every quality is unchanged and the loss is the distortion alone; its
gradient on the decoder is the joint loss's gradient (lambda * 255^2 * MSE per sample). What
makes this the cheap part of training on a CPU:

- g_a runs once per training image, up front, on the whole image (not on crops, so the
  latents near a crop's edge are those of an interior region, as in a real file); a step
  takes a random 16-pixel-aligned window of those latents and the matching pixels.
- the entropy side runs without gradients, so a step costs about one g_s forward and backward:
  about half a joint step.
- the decoder trains on what it sees at decode time: y rounded around the context's means,
  no uniform-noise proxy.

Measured once, on top of cc-v5 (weights/TRAINING.md): 20 minutes from a fresh Adam lost
0.06-0.21 dB on the Kodak estimate, so no shipped weights use it yet. Resuming a joint
checkpoint now carries its Adam moments of the decoder's parameters over (loop.adam).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..model import HyperpriorModel
from .data import load_folder
from .loop import (close_part_log, load_model_for_training, open_part_log, part_autocast,
                   part_parser, run_part, start_run, train_only)

STRIDE = 16  # g_a's stride: latent (i, j) covers pixels 16i..16i+15


def decoder_parameters(model: HyperpriorModel) -> list[str]:
    """The names of the parameters that shape the reconstruction and not the rate."""
    return [n for n, _ in model.named_parameters()
            if n.startswith(("g_s.", "lrp.", "restoration.")) or n == "log_inv_gain"]


class LatentCrops:
    """g_a of every training image (cropped to whole 16-pixel blocks), float16 in memory,
    and random aligned windows of (latents, pixels); with pixels=False the pixels are not kept
    (the rate side trains on latents alone) and batches have None for them."""

    def __init__(self, model: HyperpriorModel, images: list[np.ndarray], seed: int = 0,
                 pixels: bool = True):
        self.images: list[np.ndarray] | None = [] if pixels else None  # (3, h, w) uint8
        self.feats: list[torch.Tensor] = []  # (M, h/16, w/16) float16
        with torch.no_grad():
            for img in images:
                h, w = (s - s % STRIDE for s in img.shape[:2])
                img = np.ascontiguousarray(img[:h, :w].transpose(2, 0, 1))
                x = torch.from_numpy(img)[None].float().div_(255)
                self.feats.append(model.g_a(x)[0].half())
                if self.images is not None:
                    self.images.append(img)
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int, crop: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents (size, M, crop/16, crop/16) float32 and pixels (size, 3, crop, crop) in
        [0, 1], from images at least `crop` on each side."""
        side = crop // STRIDE
        feats: list[torch.Tensor] = []
        pixels: list[np.ndarray] = []
        while len(feats) < size:
            i = self.rng.integers(len(self.feats))
            f = self.feats[i]
            if min(f.shape[1:]) < side:
                continue
            a = self.rng.integers(f.shape[1] - side + 1)
            b = self.rng.integers(f.shape[2] - side + 1)
            feats.append(f[:, a:a + side, b:b + side])
            if self.images is not None:
                pixels.append(self.images[i][:, a * STRIDE:(a + side) * STRIDE,
                                             b * STRIDE:(b + side) * STRIDE])
        x = torch.from_numpy(np.stack(pixels)).float().div_(255) if pixels else None
        return torch.stack(feats).float(), x


@torch.no_grad()
def decoded_latents(model: HyperpriorModel, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """y_hat and the means the decoder would see for the (gained) latents y."""
    _, _, y_hat, mean = model.rate(y, noise=False)
    return y_hat, mean


def parse_args(argv=None):
    p = part_parser("python -m aecodec.train.decoder", __doc__, out="runs/dec", batch=4,
                    lr=5e-5, log_every=50)
    return p.parse_args(argv)


def main(argv=None) -> Path:
    args = parse_args(argv)
    out = start_run(args)
    model, opt_state, state = load_model_for_training(args)
    # a joint checkpoint's Adam moments of these parameters carry over
    opt, params = train_only(model, decoder_parameters(model), opt_state, args.lr)
    step = state.get("step", 0)
    autocast = part_autocast(args)  # on g_s and the restoration network
    log, evaluate = open_part_log(args, model, out, step)
    t0 = time.time()
    # LatentCrops keeps its own (CHW) copy of the pixels: the decoded list is not kept beside it
    crops = LatentCrops(model, load_folder(args.data, min_side=args.crop, limit=args.limit_images),
                        seed=args.seed + step)
    print(f"cached g_a of {len(crops.feats)} images in {time.time() - t0:.0f} s; training "
          f"{sum(q.numel() for q in params) / 1e6:.2f}M decoder parameters, autocast {autocast}",
          flush=True)
    levels = model.config.levels

    def step_loss() -> tuple[torch.Tensor, dict[str, float]]:
        feats, x = crops.batch(args.batch, args.crop)
        assert x is not None  # the crops keep their pixels
        t = torch.rand(args.batch) * (levels - 1)
        gain, inv_gain = model.gains(t)
        y_hat, mean = decoded_latents(model, feats * gain)
        y_rec = model.reconstruct(y_hat, mean) * inv_gain
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            x_hat = model.synthesize(y_rec, t).float()
        mse = (x_hat - x).pow(2).mean(dim=(1, 2, 3))
        loss = (model.lambdas(t) * 255**2 * mse).mean()
        psnr = (-10 * torch.log10(mse.detach().clamp_min(1e-10))).mean().item()
        return loss, {"loss": loss.item(), "psnr": psnr}

    step, t_start = run_part(args, model, opt, params, step, log, "decoder", step_loss,
                             speed_key="img_per_s", per_step=args.batch)
    return close_part_log(args, model, log, evaluate, step, t_start)


if __name__ == "__main__":
    main()
