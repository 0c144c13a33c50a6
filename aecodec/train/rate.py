"""Fine-tune the rate side of a trained model alone, on analysis features cached up front.

    python -m aecodec.train.rate --resume weights --resume-id cc-v36 --minutes 60 --out runs/rate
    python -m aecodec.train.export runs/rate/last.ckpt --model-id cc-vN

What trains: h_a, h_s, the density of z and the context networks (channel and checkerboard),
the parts that decide how many bits a file takes; `--context-hidden` and
`--checkerboard-hidden` widen the context networks first (`aecodec.train.widen.widen_hidden`).
What stays: g_a, g_s, the gains, residual prediction and the restoration network. The loss is
the bits of y and z per pixel: y's rounding error is uniform whatever mean it is rounded
around, so the picture moves only through residual prediction, which reads the means; the
Kodak estimate at both ends of a run measures rate and PSNR together.

Why it is cheap: g_a runs once per training image, and a step costs only the networks at 1/16
and 1/64 of the resolution, so the rate side sees more windows per CPU minute than in the
joint loop, where each costs a g_a and g_s forward and backward too.

Every 16th training image is held out: the log starts and ends with the bits of fixed windows
of them at fixed levels, rounded as in a file, so a run shows what it saved on images it
never trained on.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..model import HyperpriorModel
from .data import load_folder
from .decoder import LatentCrops
from .loop import (close_part_log, load_model_for_training, log_record, open_part_log,
                   part_autocast, part_parser, run_part, start_run, train_only)
from .widen import widen_hidden

RATE_MODULES = ("h_a.", "h_s.", "z_density.", "context.", "spatial.")
HOLD_OUT = 16  # every 16th training image is held out of training, to measure on


def rate_parameters(model: HyperpriorModel, modules: tuple[str, ...] = RATE_MODULES) -> list[str]:
    """The names of the parameters of `modules` (prefixes, all of the rate side by default)."""
    return [n for n, _ in model.named_parameters() if n.startswith(tuple(modules))]


@torch.no_grad()
def held_out_bits(model: HyperpriorModel, feats: torch.Tensor) -> float:
    """Bits per latent position of the held-out windows `feats` (K, M, s, s), each at every
    level in turn, rounded as in a file (the likelihood of y_hat, z rounded)."""
    total = 0.0
    for level in range(model.config.levels):
        gain, _ = model.gains(torch.tensor([float(level)]))
        for start in range(0, len(feats), 16):
            bits_y, bits_z, _, _ = model.rate(feats[start:start + 16].float() * gain, noise=False)
            total += (bits_y + bits_z).sum().item()
    return total / (model.config.levels * len(feats) * feats.shape[2] * feats.shape[3])


def parse_args(argv=None):
    p = part_parser("python -m aecodec.train.rate", __doc__, out="runs/rate", batch=16,
                    lr=1e-4, log_every=200)
    p.add_argument("--train", nargs="+", default=None, metavar="MODULE",
                   choices=[m.rstrip(".") for m in RATE_MODULES],
                   help="train only these parts of the rate side (default: all of it)")
    p.add_argument("--context-hidden", type=int, nargs="+", default=None, metavar="W",
                   help="widen the channel context's hidden layers to these widths first")
    p.add_argument("--checkerboard-hidden", type=int, nargs="+", default=None, metavar="W",
                   help="widen the checkerboard context's hidden layers to these widths first")
    return p.parse_args(argv)


def main(argv=None) -> Path:
    args = parse_args(argv)
    out = start_run(args)
    model, opt_state, state = load_model_for_training(args)
    widths = {field: tuple(w) for field, w in (("context_hidden", args.context_hidden),
                                               ("checkerboard_hidden", args.checkerboard_hidden))
              if w and tuple(w) != getattr(model.config, field)}
    if widths:  # computes what the model did; the widened tensors' Adam moments start afresh
        try:
            model = widen_hidden(model, **widths)
        except ValueError as e:
            raise SystemExit(f"--context-hidden / --checkerboard-hidden: {e}") from None
    # a joint checkpoint's Adam moments of these parameters carry over
    trained = tuple(m + "." for m in args.train) if args.train else RATE_MODULES
    opt, params = train_only(model, rate_parameters(model, trained), opt_state, args.lr)
    step = state.get("step", 0)
    autocast = part_autocast(args)  # on h_a and h_s
    log, evaluate = open_part_log(args, model, out, step)
    t0 = time.time()
    images = load_folder(args.data, min_side=args.crop, limit=args.limit_images)
    if len(images) < 2:
        raise SystemExit(f"{args.data}: {len(images)} images of at least {args.crop} px; the "
                         "rate side needs two, one to train on and one held out")
    crops = LatentCrops(model, [im for i, im in enumerate(images) if i % HOLD_OUT],
                        seed=args.seed + step, pixels=False)
    # the same windows each run
    held_crops = LatentCrops(model, images[::HOLD_OUT], seed=12345, pixels=False)
    del images
    held = held_crops.batch(4 * len(held_crops.feats), args.crop)[0].half()
    print(f"cached g_a of {len(crops.feats)} + {len(held_crops.feats)} held-out images in "
          f"{time.time() - t0:.0f} s; training {sum(q.numel() for q in params) / 1e6:.2f}M "
          f"rate parameters, autocast {autocast}", flush=True)
    held_start = held_out_bits(model, held)
    log_record(log, {"step": step, "held_out_bits": round(held_start, 5)})
    levels, pixels = model.config.levels, args.crop**2

    def step_loss() -> tuple[torch.Tensor, dict[str, float]]:
        feats, _ = crops.batch(args.batch, args.crop)
        gain, _ = model.gains(torch.rand(args.batch) * (levels - 1))
        bits_y, bits_z, _, _ = model.rate(feats * gain, autocast)
        loss = (bits_y + bits_z).mean() / pixels
        return loss, {"bpp": loss.item(), "bpp_z": bits_z.mean().item() / pixels}

    step, t_start = run_part(args, model, opt, params, step, log, "rate", step_loss)
    held_end = held_out_bits(model, held)
    log_record(log, {"step": step, "held_out_bits": round(held_end, 5),
                     "held_out_saved": round(float(1 - held_end / held_start), 5)})
    return close_part_log(args, model, log, evaluate, step, t_start)


if __name__ == "__main__":
    main()
