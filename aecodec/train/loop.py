"""Time-boxed, resumable training of the variable-rate hyperprior.

The learning rate follows a cosine over the *time* budget rather than a step count, so a
run of any length ends annealed; a resumed run continues the same schedule. The crop size
grows from 128 to 256 for the last part of the budget (cheap steps first, large context last).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..hardware import native_bf16
from ..model import (BLOCK_FIELDS, RESTORATION_FIELDS, HyperpriorModel, ModelConfig, extend,
                     with_restoration)
from .data import CropSampler, load_folder
from .evaluate import quick_eval


def lr_at(frac: float, base: float, warmup_frac: float, floor: float = 0.02) -> float:
    if frac < warmup_frac:
        return base * max(frac / warmup_frac, 0.01)
    p = min((frac - warmup_frac) / max(1 - warmup_frac, 1e-9), 1.0)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def save_checkpoint(path: Path, model, opt, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    # the names of the optimizer's parameters: a later run that trains another subset, or a
    # model with added modules, takes the moments it can use by name (see `adam`)
    names = {id(p): n for n, p in model.named_parameters()}
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "opt_names": [names[id(p)] for p in opt.param_groups[0]["params"]],
                "config": model.config.to_dict(), "state": state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path) -> tuple[HyperpriorModel, dict | None, dict]:
    """The model, optimizer state (with "names", see `adam`) and run state saved by
    `save_checkpoint`. A checkpoint packed without its optimizer (aecodec.train.device)
    gives None: Adam starts afresh."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = HyperpriorModel(ModelConfig.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    opt = ckpt.get("opt")
    if opt is not None:
        every = [n for n, _ in model.named_parameters()]
        # checkpoints from before "opt_names": a joint run's optimizer held every parameter
        names = ckpt.get("opt_names") or (every if len(opt["param_groups"][0]["params"])
                                          == len(every) else None)
        opt = {**opt, "names": names} if names else None
    return model, opt, ckpt["state"]


def adam(model, names: list[str], opt_state: dict | None, lr: float) -> torch.optim.Adam:
    """Adam over the model's parameters `names`, starting from the moments and step counts
    that `opt_state` (from load_checkpoint) holds for any of them, matched by name. Parameters
    it does not hold (added modules) start afresh; a run that trains a subset (the decoder)
    keeps what the joint run's optimizer learned about that subset."""
    named = dict(model.named_parameters())
    opt = torch.optim.Adam([named[n] for n in names], lr=lr)
    if opt_state:
        group = opt_state["param_groups"][0]
        saved = {name: opt_state["state"][i]
                 for name, i in zip(opt_state["names"], group["params"]) if i in opt_state["state"]}
        # a widened parameter starts afresh: its old moments have the narrower shape
        saved = {n: st for n, st in saved.items()
                 if n in named and st["exp_avg"].shape == named[n].shape}
        opt.load_state_dict({
            "state": {i: saved[n] for i, n in enumerate(names) if n in saved},
            "param_groups": [{**group, "params": list(range(len(names)))}]})
    return opt


def load_model_for_training(args) -> tuple[HyperpriorModel, dict | None, dict]:
    if args.resume and Path(args.resume).is_file() and args.resume.endswith(".ckpt"):
        model, opt_state, state = load_checkpoint(args.resume)
    elif args.resume:  # a shipped weights folder: fine-tune from it
        from .export import load_float_model
        model, opt_state, state = load_float_model(args.resume, args.resume_id), None, {}
    else:
        model, opt_state, state = HyperpriorModel(ModelConfig(n=args.n, m=args.m)), None, {}
    # modules added to a trained model start as no-ops; Adam keeps the rest's moments
    if getattr(args, "lrp_hidden", None) and model.lrp is None:
        model = extend(model, lrp_hidden=tuple(args.lrp_hidden))
    try:
        model = with_restoration(model, *(tuple(getattr(args, name, None) or ())
                                          for name in RESTORATION_FIELDS))
    except ValueError as e:
        raise SystemExit(f"--restoration-hidden / -low / -lower / -lowest: {e}") from None
    for field in BLOCK_FIELDS:
        count = getattr(args, field, None)
        if count is not None and count != getattr(model.config, field):
            model = extend(model, **{field: count})
    widen_to = getattr(args, "widen", None)
    if widen_to and widen_to != model.config.m:
        from .widen import freeze_old_entries, widen_with_masks
        model, masks = widen_with_masks(model, widen_to)
        if getattr(args, "new_only", False):
            freeze_old_entries(model, masks)
    return model, opt_state, state


def part_parser(prog: str, doc: str, out: str, batch: int, lr: float,
                log_every: int) -> argparse.ArgumentParser:
    """The arguments of a run that trains one part of a model on cached g_a features with the
    rest frozen (aecodec.train.decoder, aecodec.train.rate); `part_autocast` reads the last."""
    p = argparse.ArgumentParser(prog=prog, description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resume", required=True, help="a .ckpt or a weights folder")
    p.add_argument("--resume-id", default=None, help="with a weights folder: the model id")
    p.add_argument("--data", default="../shared/data/train")
    p.add_argument("--kodak", default="../shared/data/kodak", help="folder for the evals")
    p.add_argument("--out", default=out)
    p.add_argument("--minutes", type=float, default=30.0, help="time budget (cosine schedule)")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--crop", type=_whole_latents, default=256,
                   help="pixels a crop (window of latents) covers: a multiple of 64")
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--warmup-frac", type=float, default=0.02)
    p.add_argument("--log-every", type=int, default=log_every)
    p.add_argument("--ckpt-minutes", type=float, default=5.0)
    p.add_argument("--limit-images", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (tests)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--autocast", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast on the trained networks' largest layers (default: where "
                        "the CPU has native bf16, AVX-512 BF16 or AMX)")
    return p


def _whole_latents(text: str) -> int:
    crop = int(text)
    if crop <= 0 or crop % 64:
        raise argparse.ArgumentTypeError(
            f"{crop} is not a positive multiple of 64 (the model's total stride)")
    return crop


def part_autocast(args) -> bool:
    return args.autocast if args.autocast is not None else native_bf16(torch.device("cpu"))


def train_only(model, names: list[str], opt_state: dict | None,
               lr: float) -> tuple[torch.optim.Adam, list]:
    """Adam over the parameters `names` with every other parameter frozen; a checkpoint's
    moments of these carry over (`adam`)."""
    model.requires_grad_(False)
    opt = adam(model, names, opt_state, lr)
    params = opt.param_groups[0]["params"]
    for q in params:
        q.requires_grad_(True)
    return opt, params


def open_part_log(args, model, out: Path, step: int):
    """A part run's log, opened for appending, and whether it evaluates on `--kodak`: when it
    does, the model's quick Kodak estimate is its first record."""
    log = open(out / "log.jsonl", "a")
    evaluate = bool(args.kodak) and Path(args.kodak).is_dir()
    if evaluate:
        log_eval(log, model, args.kodak, step, time.time())
    return log, evaluate


def close_part_log(args, model, log, evaluate: bool, step: int, t_start: float) -> Path:
    """End a part run: the quick Kodak estimate as the log's last record when it evaluates;
    returns the run's checkpoint."""
    if evaluate:
        log_eval(log, model, args.kodak, step, t_start)
    log.close()
    return Path(args.out) / "last.ckpt"


def run_part(args, model, opt, params, step: int, log, phase: str,
             step_loss: Callable[[], tuple[torch.Tensor, dict[str, float]]],
             speed_key: str | None = "steps_per_s", per_step: int = 1,
             spent: float | None = None) -> tuple[int, float]:
    """The loop of a run that trains one part of a model (`--minutes`, `--max-steps`, `--lr`,
    `--warmup-frac`, `--log-every`, `--ckpt-minutes`, `--out`): `step_loss()` gives a step's
    loss and the numbers to log, averaged over `--log-every` steps, with the speed under
    `speed_key` (`per_step` items a step); a checkpoint every `--ckpt-minutes` and at the end.
    With `spent` (seconds of the schedule a resumed run already spent) the schedule goes on
    from there and the checkpoints record it ("seconds"); without, a checkpoint records no
    schedule, so a joint run resumed from it starts its own. Returns the last step and the
    schedule's start time."""
    path = Path(args.out) / "last.ckpt"
    acc: dict[str, float] = {}
    n = 0
    t_log = last_ckpt = time.time()
    t_start = t_log - (spent or 0.0)

    def state() -> dict:
        done = {"step": step, "phase": phase}
        return done if spent is None else {**done, "seconds": time.time() - t_start}

    while True:
        frac = (time.time() - t_start) / (args.minutes * 60)
        if frac >= 1 or (args.max_steps is not None and step >= args.max_steps):
            break
        loss, numbers = step_loss()
        optimizer_step(opt, loss, params, lr_at(frac, args.lr, args.warmup_frac))
        step, n = step + 1, n + 1
        for key, value in numbers.items():
            acc[key] = acc.get(key, 0.0) + value
        if step % args.log_every == 0:
            speed = {speed_key: round(n * per_step / (time.time() - t_log), 2)} \
                if speed_key else {}
            log_record(log, {"step": step, "minutes": round((time.time() - t_start) / 60, 2),
                             **{k: round(v / n, 5) for k, v in acc.items()}, **speed})
            acc, n, t_log = {}, 0, time.time()
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            save_checkpoint(path, model, opt, state())
            last_ckpt = time.time()
    save_checkpoint(path, model, opt, state())
    return step, t_start


def start_run(args) -> Path:
    """Threads, seed and the run folder, the same for every training entry point."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def optimizer_step(opt, loss: torch.Tensor, params, lr: float, clip: float = 1.0) -> None:
    """One Adam step at learning rate lr, gradient norm clipped to clip."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    clipped_step(opt, params, lr, clip)


def clipped_step(opt, params, lr: float, clip: float = 1.0) -> None:
    """One Adam step at learning rate lr on the gradients already summed into params (one
    batch's or several micro-batches'), their norm clipped to clip."""
    for g in opt.param_groups:
        g["lr"] = lr
    torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()


def log_record(log, rec: dict) -> None:
    """One JSON line to stdout and to the run's log.jsonl."""
    print(json.dumps(rec), flush=True)
    log.write(json.dumps(rec) + "\n")
    log.flush()


def log_eval(log, model, kodak: str, step: int, t_start: float) -> None:
    """The quick Kodak estimate of the model at this step, as a log record."""
    log_record(log, {"step": step, "minutes": round((time.time() - t_start) / 60, 2),
                     "eval": quick_eval(model, kodak)})


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m aecodec.train", description=__doc__)
    p.add_argument("--data", default="../shared/data/train")
    p.add_argument("--kodak", default="../shared/data/kodak", help="folder for the periodic eval")
    p.add_argument("--out", default="runs/hp", help="run folder (checkpoint, log)")
    p.add_argument("--minutes", type=float, default=60.0, help="time budget of the whole schedule")
    p.add_argument("--stop-minutes", type=float, default=None,
                   help="end this process after so many minutes with a checkpoint, mid-schedule: "
                        "resuming the checkpoint continues the schedule (legs of a time-limited "
                        "GPU lease)")
    p.add_argument("--resume", default=None, help="a .ckpt to continue or a weights folder to fine-tune")
    p.add_argument("--resume-id", default=None,
                   help="with a weights folder: the model id to fine-tune (default: its default)")
    p.add_argument("--lrp-hidden", type=int, nargs="+", default=None,
                   help="add latent residual prediction with these hidden widths to a "
                        "channel-context model that has none (starts as a no-op)")
    p.add_argument("--latent-blocks", type=int, default=None,
                   help="give g_a and g_s this many residual blocks at 1/16 resolution "
                        "(aecodec.nn.transforms); blocks added to a trained model start as "
                        "the identity")
    p.add_argument("--encoder-blocks", type=int, default=None,
                   help="give g_a this many residual blocks at 1/4 and as many at 1/8 "
                        "resolution (the decoder does not run them); added to a trained "
                        "model they start as the identity")
    p.add_argument("--decoder-blocks", type=int, default=None,
                   help="give g_s this many residual blocks at 1/8 resolution (each about "
                        "2 %% of a decode); added to a trained model they start as the identity")
    p.add_argument("--restoration-hidden", type=int, nargs="+", default=None,
                   help="add a restoration network after g_s with these hidden widths "
                        "(aecodec.nn.restoration; aecodec.train.restoration trains it alone, "
                        "cheaply); added to a trained model it starts as the identity")
    p.add_argument("--restoration-low", type=int, nargs="+", default=None,
                   help="give the restoration network (a new one, or a trained one with one "
                        "scale) a second scale with these quarter-resolution widths")
    p.add_argument("--restoration-lower", type=int, nargs="+", default=None,
                   help="give the restoration network's second scale a third one inside it, "
                        "with these eighth-resolution widths")
    p.add_argument("--restoration-lowest", type=int, nargs="+", default=None,
                   help="give the third scale a fourth one inside it, with these "
                        "sixteenth-resolution widths")
    p.add_argument("--widen", type=int, default=None, metavar="M",
                   help="give y this many channels, the new ones as new slices "
                        "(aecodec.train.widen); the widened model starts computing what the "
                        "narrower one did")
    p.add_argument("--new-only", action="store_true",
                   help="with --widen: train only the new entries (the narrow model's weights "
                        "stay), so that the new channels learn to pay before joint training")
    p.add_argument("--rate-slices", type=int, default=None, metavar="K",
                   help="count the rate of the first K slices of y only (for the first "
                        "--rate-free-frac of the budget): new slices of a widened model first "
                        "learn what they can add, free")
    p.add_argument("--rate-free-frac", type=float, default=1.0,
                   help="share of the budget during which --rate-slices applies")
    p.add_argument("--new-schedule", action="store_true",
                   help="with a .ckpt: keep weights, Adam moments and step count but start a new "
                        "time budget (warm-up and cosine) instead of continuing the old one")
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--m", type=int, default=192)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--final-crop", type=int, default=256)
    p.add_argument("--final-frac", type=float, default=0.25, help="share of the budget at final-crop")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-frac", type=float, default=0.03)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--accum", type=int, default=1,
                   help="micro-batches of --batch per optimizer step, gradients summed: the "
                        "larger batch of a GPU run on one CPU thread, at the same cost per image")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--eval-minutes", type=float, default=15.0)
    p.add_argument("--ckpt-minutes", type=float, default=4.0)
    p.add_argument("--limit-images", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--autocast", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast on the transforms (default: on for CUDA and on CPUs "
                        "with native bf16, AVX-512 BF16 or AMX, where it halves a 256-px step)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (tests)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.crop % 64 or args.final_crop % 64:
        p.error("crop sizes must be multiples of 64 (the model's total stride)")
    if args.accum < 1:
        p.error("--accum must be at least 1")
    if args.new_only and not args.widen:
        p.error("--new-only needs --widen")
    return args


def main(argv=None) -> Path:
    args = parse_args(argv)
    out = start_run(args)
    device = torch.device(args.device)
    native = native_bf16(device)
    autocast = args.autocast if args.autocast is not None else native
    if autocast and not native:
        # forced where oneDNN emulates bf16: session 40 lost its first 6 minutes so, under 0.14
        # images/s at 256 px on one EPYC thread without AVX-512 against 1.0 in float32
        print("warning: --autocast on a CPU without native bf16 (AVX-512 BF16 or AMX) is emulated "
              "and several times slower than float32; leave it out to get the fast default",
              file=sys.stderr, flush=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop shapes: pick the fastest kernels once
    model, opt_state, state = load_model_for_training(args)
    # channels-last activations: oneDNN's (and cuDNN's) fastest convolution layout, 7-10 % off a
    # CPU step measured; checkpoints and exports store the same logical tensors either way
    model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = adam(model, [n for n, _ in model.named_parameters()], opt_state, args.lr)
    step = state.get("step", 0)
    # training seconds already spent in this schedule; a new schedule starts from zero
    spent = 0.0 if args.new_schedule else state.get("seconds", 0.0)
    budget = args.minutes * 60
    images = load_folder(args.data, min_side=min(args.crop, 64), limit=args.limit_images)
    sampler = CropSampler(images, seed=args.seed + step)
    levels = model.config.levels
    log = open(out / "log.jsonl", "a")
    print(f"training {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params on "
          f"{len(images)} images on {device} ({torch.get_num_threads()} threads), "
          f"autocast {autocast}, from step {step}", flush=True)
    t_process = time.time()
    t_start = t_process - spent
    evaluate = bool(args.kodak) and Path(args.kodak).is_dir()
    last_ckpt = last_eval = time.time()
    acc: dict[str, Any] = {"loss": 0.0, "bpp": 0.0, "psnr": 0.0, "n": 0}
    t_log = time.time()
    while True:
        frac = (time.time() - t_start) / budget
        if (frac >= 1 or (args.max_steps is not None and step >= args.max_steps)
                or (args.stop_minutes is not None
                    and time.time() - t_process >= args.stop_minutes * 60)):
            break
        final = frac >= 1 - args.final_frac
        crop = args.final_crop if final else args.crop
        batch = max(1, args.batch * args.crop**2 // crop**2)
        lr = lr_at(frac, args.lr, args.warmup_frac)
        opt.zero_grad(set_to_none=True)
        for _ in range(args.accum):
            x = torch.from_numpy(sampler.batch(batch, crop)).to(device).float().div_(255)
            x = x.contiguous(memory_format=torch.channels_last)
            t = torch.rand(batch, device=device) * (levels - 1)
            res = model(x, t, autocast=autocast,
                        rate_slices=args.rate_slices if frac < args.rate_free_frac else None)
            mse = (res["x_hat"] - x).pow(2).mean(dim=(1, 2, 3))
            bpp = res["bits"] / (crop * crop)
            loss = (model.lambdas(t) * 255**2 * mse + bpp).mean()
            # scaled so the summed gradient is the mean over all accum * batch images
            (loss / args.accum).backward()
            # summed on the device: reading a number back every step would stall a GPU
            acc["loss"] += loss.detach()
            acc["bpp"] += bpp.detach().mean()
            acc["psnr"] += (-10 * torch.log10(mse.detach().clamp_min(1e-10))).mean()
            acc["n"] += 1
        clipped_step(opt, model.parameters(), lr, args.clip)
        step += 1
        if step % args.log_every == 0:
            dt = time.time() - t_log
            log_record(log, {
                "step": step, "minutes": round((time.time() - t_start) / 60, 2), "lr": lr,
                "crop": crop,
                **{k: round(float(v) / acc["n"], 4) for k, v in acc.items() if k != "n"},
                "img_per_s": round(acc["n"] * batch / dt, 2)})
            acc = {"loss": 0.0, "bpp": 0.0, "psnr": 0.0, "n": 0}
            t_log = time.time()
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            save_checkpoint(out / "last.ckpt", model, opt,
                            {"step": step, "seconds": time.time() - t_start})
            last_ckpt = time.time()
        if evaluate and time.time() - last_eval > args.eval_minutes * 60:
            t0 = time.time()
            log_eval(log, model, args.kodak, step, t_start)
            t_start += time.time() - t0  # evaluation time is not training time
            last_eval = time.time()
    save_checkpoint(out / "last.ckpt", model, opt, {"step": step, "seconds": time.time() - t_start})
    if evaluate:  # the end point of every run, whatever the eval interval
        log_eval(log, model, args.kodak, step, t_start)
    log.close()
    return out / "last.ckpt"
