"""Train the restoration network (aecodec.nn.restoration) of a model, the rest of it frozen.

    python -m aecodec.train.restoration pairs --resume weights --resume-id cc-v31 \\
        --out runs/r47/pairs.npz
    python -m aecodec.train.restoration fit --resume weights --resume-id cc-v31 \\
        --pairs runs/r47/pairs.npz --hidden 32 32 32 --minutes 40 --out runs/r47
    python -m aecodec.train.export runs/r47/last.ckpt --model-id cc-vN

The network sits after g_s, so nothing it learns changes a bit of any file: the model that
comes out writes the bytes the model that went in wrote, and decodes them to better pixels.
Two steps, because the expensive part, decoding, does not depend on the network:

- `pairs` decodes each training image whole (padded as the codec pads it, y rounded around
  the context's means and corrected by residual prediction, as the decoder sees it) at one or
  more random levels and keeps random crops of what g_s made (float, before 8-bit rounding)
  beside the original pixels.
- `fit` trains the network alone on windows of those crops: a step is its forward and
  backward only. The windows lie on the network's grid in the whole image (its coarsest
  blocks), where its blocks lie when it decodes; `--low`, `--lower` and `--lowest` add a
  second, third and fourth scale to a network, which start as the network was
  (aecodec.nn.restoration).

The loss is each crop's squared error over the error it had before restoration, averaged:
each crop counts by the share of its error taken away, so every level counts by its gain in
dB (plain MSE would leave the top levels, whose errors are ten times smaller, untrained).
A run resumes from its own checkpoint (`--resume runs/r47/last.ckpt`), continuing its schedule.
"""
from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..model import HyperpriorModel, with_restoration
from ..nn.restoration import SCALES
from ..tiling import ALIGN
from .data import load_folder
from .decoder import decoded_latents
from .loop import (close_part_log, load_model_for_training, log_record, run_part, start_run,
                   train_only)

HOLD_OUT = 16  # every 16th image's crops are held out of training, to measure on


def even_offset(rng: np.random.Generator, side: int, crop: int) -> int:
    """A random even start of a `crop` inside `side`: the network's 2x2 blocks stay on the
    image's grid."""
    return 2 * int(rng.integers((side - crop) // 2 + 1))


def decoder_digest(model: HyperpriorModel) -> str:
    """What the pairs depend on: every parameter outside the restoration network."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        if not name.startswith("restoration."):
            h.update(name.encode() + b"\0" + p.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def synthesized(model: HyperpriorModel, image: np.ndarray, level: float) -> np.ndarray:
    """g_s's pixels (3, h, w) float32 for an (h, w, 3) uint8 image at a level, as a decoder
    makes them before the restoration network."""
    h, w = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float() / 255
    x = F.pad(x, (0, (-w) % ALIGN, 0, (-h) % ALIGN), mode="replicate")
    gain, inv_gain = model.gains(torch.tensor([level]))
    y_hat, mean = decoded_latents(model, model.g_a(x) * gain)
    return model.g_s(model.reconstruct(y_hat, mean) * inv_gain)[0, :, :h, :w].numpy()


def make_pairs(model: HyperpriorModel, images: list[np.ndarray], levels_per_image: int,
               crops_per_level: int, crop: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, x_hat, levels, source, offsets = [], [], [], [], []
    top = model.config.levels - 1
    t0 = time.time()
    for i, image in enumerate(images):
        h, w = image.shape[:2]
        for _ in range(levels_per_image):
            level = float(rng.uniform(0, top))
            decoded = synthesized(model, image, level)
            for _ in range(crops_per_level):
                r, c = even_offset(rng, h, crop), even_offset(rng, w, crop)
                x.append(image[r:r + crop, c:c + crop].transpose(2, 0, 1))
                x_hat.append(decoded[:, r:r + crop, c:c + crop].astype(np.float16))
                levels.append(level)
                source.append(i)
                offsets.append((r, c))
        if (i + 1) % 100 == 0:
            print(f"{i + 1} of {len(images)} images decoded, {time.time() - t0:.0f} s", flush=True)
    return {"x": np.stack(x), "x_hat": np.stack(x_hat),
            "level": np.array(levels, np.float32), "image": np.array(source, np.int32),
            "offset": np.array(offsets, np.int32).reshape(-1, 2)}


def pairs_main(args) -> Path:
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model_for_training(args)[0].eval()
    part, parts = args.part
    if not 0 <= part < parts:
        raise SystemExit(f"--part {part} {parts}: the part must be 0 to {parts - 1}")
    images = load_folder(args.data, min_side=args.crop, limit=args.limit_images)[part::parts]
    pairs = make_pairs(model, images, args.levels_per_image, args.crops_per_level, args.crop,
                       args.seed + part)
    pairs["image"] = pairs["image"] * parts + part  # the index in the whole folder
    pairs["decoder_digest"] = np.frombuffer(decoder_digest(model).encode(), np.uint8)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, allow_pickle=False, **pairs)
    tmp.replace(out)
    print(f"{len(pairs['x'])} pairs of {args.crop} px from {len(images)} images -> {out}")
    return out


class Pairs:
    def __init__(self, paths: list[str], model: HyperpriorModel, seed: int):
        digest = decoder_digest(model)
        x, x_hat, level, image, offset = [], [], [], [], []
        for path in paths:
            with np.load(path) as d:
                if d["decoder_digest"].tobytes().decode() != digest:
                    raise SystemExit(f"{path} was decoded by another model than the one being "
                                     "trained: make the pairs again from it")
                x.append(d["x"])
                x_hat.append(d["x_hat"])
                level.append(d["level"])
                image.append(d["image"])
                offset.append(d["offset"])
        if len({a.shape[2] for a in x}) > 1:
            raise SystemExit("the pairs files hold crops of different sizes")
        self.x, self.x_hat = np.concatenate(x), np.concatenate(x_hat)
        self.level, self.offset = np.concatenate(level), np.concatenate(offset)
        held = np.concatenate(image) % HOLD_OUT == 0
        self.train, self.held = np.flatnonzero(~held), np.flatnonzero(held)
        self.rng = np.random.default_rng(seed)

    def largest_window(self, grid: int) -> int:
        """The side of the largest window on the image's `grid` that fits in every crop: the
        crops start on even pixels, so their first grid line is up to grid - 2 pixels in."""
        return (self.x.shape[2] - grid + 2) // grid * grid

    def batch(self, size: int, crop: int, grid: int):
        """(original, decoded, levels) of `size` random training crops of `crop` px, each a
        random window on the image's `grid` (where the network's blocks lie when it decodes
        the whole image), flipped at random."""
        ids = self.rng.choice(self.train, size)
        return self.crops(ids, crop, grid, self.rng)

    def crops(self, ids: np.ndarray, crop: int, grid: int, rng: np.random.Generator | None = None):
        """(original, decoded, levels) of a `crop`-px window of each of the crops `ids` on the
        image's `grid`, as float tensors in [0, 1]: random windows flipped at random with an
        `rng`, else each crop's first window."""
        if crop > self.largest_window(grid):
            raise ValueError(f"a {crop}-px window on the {grid}-px grid does not fit in the "
                             f"pairs' {self.x.shape[2]}-px crops")
        last = self.x.shape[2] - crop
        xs, x_hats = [], []
        for k in ids:
            r, c = (-self.offset[k]) % grid
            if rng is not None:
                r += grid * int(rng.integers((last - r) // grid + 1))
                c += grid * int(rng.integers((last - c) // grid + 1))
            xs.append(self.x[k, :, r:r + crop, c:c + crop])
            x_hats.append(self.x_hat[k, :, r:r + crop, c:c + crop])
        x = torch.from_numpy(np.stack(xs)).float().div_(255)
        x_hat = torch.from_numpy(np.stack(x_hats).astype(np.float32))
        t = torch.from_numpy(self.level[ids])
        if rng is not None and rng.random() < 0.5:
            # a mirrored image puts its grid at the other end: the same blocks when the window
            # is a whole number of them
            x, x_hat = x.flip(3), x_hat.flip(3)
        return x, x_hat, t


def relative_error(restored: torch.Tensor, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Each crop's squared error after restoration over its error before, averaged."""
    before = (x_hat - x).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-8)
    return ((restored - x).pow(2).mean(dim=(1, 2, 3)) / before).mean()


@torch.no_grad()
def held_out_gain(model: HyperpriorModel, pairs: Pairs, chunk: int = 16) -> dict:
    """dB gained on the held-out crops (8-bit output), overall and by third of the levels."""
    assert model.restoration is not None
    grid = model.restoration.grid
    crop = pairs.largest_window(grid)
    gains: list[tuple[float, float]] = []
    for start in range(0, len(pairs.held), chunk):
        ids = pairs.held[start:start + chunk]
        x, x_hat, t = pairs.crops(ids, crop, grid)
        restored = model.restoration(x_hat, t)

        def errors(a: torch.Tensor) -> torch.Tensor:  # per crop, on the 8-bit output
            return (a.clamp(0, 1).mul(255).round() - x.mul(255).round()).pow(2).mean(dim=(1, 2, 3))
        gains += zip(t.tolist(), (10 * torch.log10(errors(x_hat) / errors(restored))).tolist())
    if not gains:
        return {"held_out_db": None}  # too few images to hold any out
    top = model.config.levels - 1
    out = {"held_out_db": round(float(np.mean([g for _, g in gains])), 4)}
    for name, lo, hi in (("low", 0, top / 3), ("mid", top / 3, 2 * top / 3), ("high", 2 * top / 3, top + 1)):
        part = [g for t, g in gains if lo <= t < hi]
        if part:
            out[f"held_out_db_{name}"] = round(float(np.mean(part)), 4)
    return out


def fit_main(args) -> Path:
    out = start_run(args)
    model, opt_state, state = load_model_for_training(args)
    config = model.config
    try:
        model = with_restoration(model, *(tuple(getattr(args, name) or ())
                                          for name in ("hidden", *SCALES)))
    except ValueError as e:
        raise SystemExit(str(e)) from None
    if model.restoration is None:
        raise SystemExit("the model has no restoration network: give its --hidden widths")
    if model.config != config:
        state = {}  # a new network: a new run, whatever the checkpoint's own step count
    model.eval()
    opt, params = train_only(model, [n for n, _ in model.named_parameters()
                                     if n.startswith("restoration.")], opt_state, args.lr)
    step, spent = state.get("step", 0), state.get("seconds", 0.0)
    pairs = Pairs(args.pairs, model, args.seed + step)
    assert model.restoration is not None
    grid = model.restoration.grid
    if args.crop % grid or args.crop > pairs.largest_window(grid):
        raise SystemExit(f"--crop {args.crop}: the network works on {grid}x{grid}-pixel blocks, "
                         f"so the crop side must be a multiple of {grid} and fit on that grid "
                         f"in the pairs' {pairs.x.shape[2]}-px crops")
    log = open(out / "log.jsonl", "a")
    print(f"{len(pairs.train)} training and {len(pairs.held)} held-out crops; training "
          f"{sum(q.numel() for q in params)} parameters", flush=True)
    restoration = model.restoration

    def step_loss() -> tuple[torch.Tensor, dict[str, float]]:
        x, x_hat, t = pairs.batch(args.batch, args.crop, grid)
        loss = relative_error(restoration(x_hat, t), x_hat, x)
        return loss, {"relative_error": loss.item()}

    step, t_start = run_part(args, model, opt, params, step, log, "restoration", step_loss,
                             speed_key=None, spent=spent)
    log_record(log, {"step": step, **held_out_gain(model, pairs)})
    return close_part_log(args, model, log, bool(args.kodak) and Path(args.kodak).is_dir(),
                          step, t_start)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m aecodec.train.restoration", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("pairs", "fit"):
        s = sub.add_parser(name)
        s.add_argument("--resume", required=True,
                       help="the model: a .ckpt or a weights folder (with --resume-id)")
        s.add_argument("--resume-id", default=None, help="with a weights folder: the model id")
        s.add_argument("--threads", type=int, default=None)
        s.add_argument("--seed", type=int, default=0)
    pairs = sub.choices["pairs"]
    pairs.add_argument("--data", default="../shared/data/train")
    pairs.add_argument("--out", required=True, help="the .npz of pairs to write")
    pairs.add_argument("--crop", type=int, default=256, help="side of the kept crops (even)")
    pairs.add_argument("--levels-per-image", type=int, default=2)
    pairs.add_argument("--crops-per-level", type=int, default=1)
    pairs.add_argument("--limit-images", type=int, default=None)
    pairs.add_argument("--part", type=int, nargs=2, default=(0, 1), metavar=("I", "N"),
                       help="decode only every N-th image from the I-th: N processes side by "
                            "side make N files that `fit` takes together")
    fit = sub.choices["fit"]
    fit.add_argument("--pairs", required=True, nargs="+",
                     help="the .npz files that `pairs` wrote (one, or the parts of one)")
    fit.add_argument("--hidden", type=int, nargs="+", default=None,
                     help="hidden widths of a network to add (a model without one)")
    fit.add_argument("--low", type=int, nargs="+", default=None,
                     help="widths of the quarter-resolution layers of a second scale, for a "
                          "network to add or added to a network that has one scale")
    fit.add_argument("--lower", type=int, nargs="+", default=None,
                     help="widths of the eighth-resolution layers of a third scale, inside the "
                          "second (given by --low or already in the network)")
    fit.add_argument("--lowest", type=int, nargs="+", default=None,
                     help="widths of the sixteenth-resolution layers of a fourth scale, inside "
                          "the third")
    fit.add_argument("--out", default="runs/restoration", help="run folder (checkpoint, log)")
    fit.add_argument("--kodak", default="../shared/data/kodak", help="folder for the last eval")
    fit.add_argument("--minutes", type=float, default=30.0, help="time budget (cosine schedule)")
    fit.add_argument("--batch", type=int, default=16)
    fit.add_argument("--crop", type=int, default=128, help="side of the training crops (even)")
    fit.add_argument("--lr", type=float, default=1e-3)
    fit.add_argument("--warmup-frac", type=float, default=0.03)
    fit.add_argument("--log-every", type=int, default=200)
    fit.add_argument("--ckpt-minutes", type=float, default=5.0)
    fit.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (tests)")
    args = p.parse_args(argv)
    if args.crop % 2:
        p.error("the crop side must be even (the network works on 2x2 blocks)")
    return args


def main(argv=None) -> Path:
    args = parse_args(argv)
    return pairs_main(args) if args.command == "pairs" else fit_main(args)


if __name__ == "__main__":
    main()
