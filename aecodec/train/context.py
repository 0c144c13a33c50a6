"""Add a channel-wise context to shipped hyperprior weights and train only the context.

    python -m aecodec.train.context --base weights --base-id hp-v3 --slices 6 --minutes 20 \\
        --out runs/cc1
    python -m aecodec.train.export runs/cc1/last.ckpt --model-id cc-v1

The transforms, the gains and the hyperprior stay frozen, so the context can only change the
rate of y (the reconstruction moves by at most the re-rounding around a better mean): the loss
is the bits of y. That makes this the cheap part of the model ladder, worth running on a CPU:
the analysis features g_a(x) of random crops are computed once, up front, and reused with a
fresh level t and fresh noise every step, so a step costs only h_a, h_s and the slice networks
at 1/16 of the image resolution. The slice networks start at zero (the hyperprior exactly),
and the log shows the bits saved against the hyperprior on the same batch.

With `--checkerboard H` the base is a channel-context model and what is added and trained is
a checkerboard context inside each slice (aecodec.nn.context.CheckerboardContext), everything
else frozen; the log then shows the bits saved against the channel context alone:

    python -m aecodec.train.context --base weights --base-id cc-v5 --checkerboard 32 \
        --minutes 20 --out runs/cb1
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ..model import HyperpriorModel, extend, gaussian_likelihood
from .data import CropSampler, load_folder
from .export import load_float_model
from .loop import (adam, load_checkpoint, log_record, lr_at, optimizer_step, save_checkpoint,
                   start_run)

CKPT_SECONDS = 300


def with_context(base: HyperpriorModel, slices: int, hidden: tuple[int, ...]) -> HyperpriorModel:
    return extend(base, slices=slices, context_hidden=hidden)


@torch.no_grad()
def reference_bits(model: HyperpriorModel, y: torch.Tensor, mu: torch.Tensor,
                   log_sigma: torch.Tensor, checkerboard: bool) -> torch.Tensor:
    """Bits of y per sample under what the trained part is added to: the hyperprior alone,
    or with a checkerboard the channel context without it."""
    if not checkerboard:
        return -torch.log2(gaussian_likelihood(
            y + torch.empty_like(y).uniform_(-0.5, 0.5), mu, log_sigma)).sum(dim=(1, 2, 3))
    spatial, model.spatial = model.spatial, None
    try:
        return model.code_y(y, mu, log_sigma)[0]
    finally:
        model.spatial = spatial


@torch.no_grad()
def features(model: HyperpriorModel, sampler: CropSampler, count: int, crop: int) -> torch.Tensor:
    """g_a of `count` random crops, (count, M, crop/16, crop/16), kept in float16: half the
    memory, and its 11-bit mantissa is far finer than the quantization that follows."""
    out = []
    for start in range(0, count, 16):
        x = torch.from_numpy(sampler.batch(min(16, count - start), crop)).float().div_(255)
        out.append(model.g_a(x).half())
    return torch.cat(out)


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(prog="python -m aecodec.train.context", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="weights", help="weights folder of the hyperprior")
    p.add_argument("--base-id", default=None, help="model id in it (default: its default)")
    p.add_argument("--resume", default=None, help="a context checkpoint to continue")
    p.add_argument("--data", default="../shared/data/train")
    p.add_argument("--out", default="runs/cc")
    p.add_argument("--slices", type=int, default=6)
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 48])
    p.add_argument("--checkerboard", type=int, nargs="+", default=None, metavar="H",
                   help="add a checkerboard context with these hidden widths to a channel-"
                        "context base and train only it")
    p.add_argument("--crops", type=int, default=2048, help="crops whose features are cached")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = start_run(args)
    if args.resume:
        model, opt_state, state = load_checkpoint(args.resume)
    elif args.checkerboard:
        model = extend(load_float_model(args.base, args.base_id),
                       checkerboard_hidden=tuple(args.checkerboard))
        opt_state, state = None, {}
    else:
        model = with_context(load_float_model(args.base, args.base_id), args.slices,
                             tuple(args.hidden))
        opt_state, state = None, {}
    checkerboard = model.spatial is not None
    trained = model.spatial if checkerboard else model.context
    if trained is None:
        raise ValueError("the model has no context networks to train")
    model.requires_grad_(False)
    trained.requires_grad_(True)
    prefix = "spatial." if checkerboard else "context."
    opt = adam(model, [n for n, _ in model.named_parameters() if n.startswith(prefix)],
               opt_state, args.lr)
    params = opt.param_groups[0]["params"]
    step = state.get("step", 0)
    t0 = time.time()
    images = load_folder(args.data, min_side=64)
    feats = features(model, CropSampler(images, seed=args.seed + step), args.crops, args.crop)
    print(f"cached g_a features of {len(feats)} crops of {args.crop} px in "
          f"{time.time() - t0:.0f} s; training {sum(p.numel() for p in params) / 1e6:.2f}M "
          f"{'checkerboard' if checkerboard else 'context'} parameters "
          f"({model.config.slices} slices)", flush=True)
    levels, pixels = model.config.levels, args.crop**2
    gen = torch.Generator().manual_seed(args.seed + step)
    log = open(out / "log.jsonl", "a")
    ref_key = "bpp_y_channel" if checkerboard else "bpp_y_hyper"
    acc = {"bpp_y": 0.0, ref_key: 0.0, "n": 0}
    t_start = t_log = last_ckpt = time.time()
    path = out / "last.ckpt"
    budget = args.minutes * 60
    while True:
        frac = (time.time() - t_start) / budget
        if frac >= 1 or (args.max_steps is not None and step >= args.max_steps):
            break
        idx = torch.randint(len(feats), (args.batch,), generator=gen)
        t = torch.rand(args.batch, generator=gen) * (levels - 1)
        gain, _ = model.gains(t)
        with torch.no_grad():
            y = feats[idx].float() * gain
            mu, log_sigma = model.float_h_s(torch.round(model.h_a(y))).chunk(2, dim=1)
        ref_bits = reference_bits(model, y, mu, log_sigma, checkerboard)
        bits, _, _ = model.code_y(y, mu, log_sigma)
        loss = bits.mean() / pixels
        optimizer_step(opt, loss, params, lr_at(frac, args.lr, 0.02))
        step += 1
        acc["bpp_y"] += loss.item()
        acc[ref_key] += ref_bits.mean().item() / pixels
        acc["n"] += 1
        if step % args.log_every == 0:
            n = acc.pop("n")
            rec = {"step": step, "minutes": round((time.time() - t_start) / 60, 2),
                   **{k: round(v / n, 4) for k, v in acc.items()},
                   "saved": round(1 - acc["bpp_y"] / acc[ref_key], 4),
                   "steps_per_s": round(n / (time.time() - t_log), 2)}
            log_record(log, rec)
            acc = {"bpp_y": 0.0, ref_key: 0.0, "n": 0}
            t_log = time.time()
        if time.time() - last_ckpt > CKPT_SECONDS:
            save_checkpoint(path, model, opt, {"step": step})
            last_ckpt = time.time()
    save_checkpoint(path, model, opt, {"step": step})
    log.close()
    return path


if __name__ == "__main__":
    main()
