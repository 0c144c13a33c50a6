"""Freeze a trained model into shipped weights: integer h_s, frozen coder tables, fp16 transforms.

    python -m aecodec.train.export runs/hp1/last.ckpt --model-id hp-v1 --out weights

writes weights/<model-id>.npz (numpy only, no pickle) and records it in weights/manifest.json
with its sha256 and config, as the new default; the models already there are stored again as
their differences from it (aecodec.weight_files). `--retire OLD` removes an older model's file
and manifest entry in the same step: a predecessor ships while its difference is small (one
that differs only in its decoder-side restoration network takes kilobytes), and is retired
when it would cost megabytes.
What the decoder's entropy coder needs is computed here, once, and shipped: it is never
recomputed from floats at decode time.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .. import weight_files
from ..entropy import VALUE_MAX, VALUE_MIN, TableSet, quantize_pmf
from ..exact import ExactHyperSynthesis, scale_thresholds
from ..model import SCALE_MAX, SCALE_MIN, HyperpriorModel
from ..weights import (FLOAT_PREFIXES, MANIFEST, SCALE_TABLE_SIZE, config_from_arrays, manifest,
                       read_arrays)
from ..y_coding import ExactContext

Z_GRID = 256  # z density sampled on [-Z_GRID, Z_GRID]
TAIL = 1e-7  # probability mass left to the escape symbol on each side


def z_tables(model: HyperpriorModel) -> TableSet:
    pmf = model.z_density.pmf_grid(-Z_GRID, Z_GRID).numpy()
    offsets, lengths, freqs = [], [], []
    for row in pmf:
        cdf = np.cumsum(row) / row.sum()
        lo = int(np.searchsorted(cdf, TAIL))
        hi = int(np.searchsorted(cdf, 1 - TAIL))
        hi = max(min(hi, len(row) - 1), lo)
        kept = row[lo:hi + 1] / row.sum()
        offsets.append(lo - Z_GRID)
        lengths.append(hi - lo + 1)
        freqs.append(quantize_pmf(kept, 1 - kept.sum()))
    return TableSet(np.array(offsets), np.array(lengths), np.concatenate(freqs))


def y_tables(count: int = SCALE_TABLE_SIZE) -> TableSet:
    """One zero-mean quantized Gaussian per log-spaced scale (symbols are round(y - mean))."""
    scales = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), count))
    offsets, lengths, freqs = [], [], []
    for s in scales:
        r = min(int(math.ceil(s * 7)), VALUE_MAX)
        v = np.arange(-r, r + 1, dtype=np.float64)
        upper = 0.5 * np.array([math.erfc(-(x + 0.5) / (s * math.sqrt(2))) for x in v])
        lower = 0.5 * np.array([math.erfc(-(x - 0.5) / (s * math.sqrt(2))) for x in v])
        pmf = upper - lower
        offsets.append(-r)
        lengths.append(2 * r + 1)
        freqs.append(quantize_pmf(pmf, max(1 - pmf.sum(), 0.0)))
    return TableSet(np.array(offsets), np.array(lengths), np.concatenate(freqs))


def export_arrays(model: HyperpriorModel) -> dict[str, np.ndarray]:
    model = model.eval()
    state = model.state_dict()
    arrays: dict[str, np.ndarray] = {
        "config": np.frombuffer(json.dumps(model.config.to_dict()).encode(), dtype=np.uint8)}
    for name, value in state.items():
        if name.startswith(FLOAT_PREFIXES):
            # the networks in fp16 (the restoration network from cc-v35 on: its held-out gain
            # the same to 1e-4 dB, 0.6 MB less); the gains stay float32
            dtype = np.float16 if name.startswith(("g_a.", "g_s.", "h_a.", "lrp.", "restoration.")) \
                else np.float32
            arrays[name] = value.float().numpy().astype(dtype)
    arrays.update(ExactHyperSynthesis.from_float(model.float_h_s).arrays("h_s"))
    if model.context is not None:
        arrays.update(ExactContext.from_float(model.context, model.spatial).arrays())
    arrays.update(z_tables(model).arrays("z"))
    arrays.update(y_tables().arrays("y"))
    arrays["y.thresholds"] = scale_thresholds(SCALE_MIN, SCALE_MAX, SCALE_TABLE_SIZE)
    assert VALUE_MIN < 0
    return arrays


def write_weights(model: HyperpriorModel, model_id: str, out: Path, note: str = "",
                  retire: Sequence[str] = ()) -> str:
    """Write the model's file and make it the manifest's default; every other model kept is
    stored again as its difference from the new default (aecodec.weight_files), and the models
    in `retire` leave."""
    arrays = export_arrays(model)
    data = weight_files.npz_bytes(arrays)
    digest = hashlib.sha256(data).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    listed = manifest(out)
    kept = {old: read_arrays(out, old, listed) for old in listed["models"]  # each checked first
            if old not in retire and old != model_id}
    (out / f"{model_id}.npz").write_bytes(data)
    entry = {"file": f"{model_id}.npz", "sha256": digest,
             "content_sha256": weight_files.content_digest(arrays),
             "config": model.config.to_dict(), "note": note}
    # The commit checked out now is the last one that ships a retired model: its files decode
    # with it (the error for such a file says so; README's deprecation table has the same).
    commit = _head_commit(out) if retire else None
    for old in retire:
        listed.setdefault("retired", {})[old] = {"decodes_with_commit": commit} if commit else {}
    _update(out, listed, model_id, entry, arrays, kept)
    return digest


def _head_commit(folder: Path) -> str | None:
    try:
        run = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short=7", "HEAD"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if run.returncode != 0:  # not a git checkout
        return None
    return run.stdout.strip() or None


def repack(out: Path) -> None:
    """Store every model in `out` but the default as its difference from the default: what
    write_weights does on each export, for a folder written before it did."""
    listed = manifest(out)
    base = listed["default"]
    if "base" in listed["models"][base]:
        raise ValueError(f"the default {base!r} is stored as a difference: export it again")
    arrays = read_arrays(out, base, listed)
    kept = {old: read_arrays(out, old, listed) for old in listed["models"] if old != base}
    entry = dict(listed["models"][base], content_sha256=weight_files.content_digest(arrays))
    _update(out, listed, base, entry, arrays, kept)


def _update(out: Path, listed: dict, model_id: str, entry: dict, arrays: dict,
            kept: dict[str, dict]) -> None:
    """Make `entry` the default, with the models of `kept` (model id: arrays) as differences
    from its arrays, and drop every other model. New files first, the manifest then, the files
    it no longer names last: a manifest never names a file that is gone."""
    entries = listed["models"]
    before = {e["file"] for e in entries.values()}
    new_entries = {model_id: entry}
    for old, old_arrays in kept.items():
        stored = weight_files.npz_bytes(weight_files.difference(old_arrays, arrays))
        name = f"{old}.delta-{model_id}.npz"
        (out / name).write_bytes(stored)
        new_entries[old] = dict(entries[old], file=name, base=model_id,
                                stored_sha256=hashlib.sha256(stored).hexdigest(),
                                content_sha256=weight_files.content_digest(old_arrays))
    listed["models"] = {k: new_entries[k] for k in sorted(new_entries)}
    listed["default"] = model_id
    (out / MANIFEST).write_text(json.dumps(listed, indent=2) + "\n")
    for name in before - {e["file"] for e in listed["models"].values()}:
        (out / name).unlink(missing_ok=True)


def check_retirable(out: Path, model_id: str, retire: Sequence[str]) -> None:
    """Refuse a retirement before anything is written: unknown ids, or the model being added."""
    known = manifest(out)["models"]
    for old in retire:
        if old == model_id:
            raise ValueError(f"cannot retire {old!r}: it is the model being exported")
        if old not in known:
            raise ValueError(f"cannot retire {old!r}: not in {out / MANIFEST}")


def load_float_model(path: str | Path, model_id: str | None = None) -> HyperpriorModel:
    """A trainable model from shipped weights (fine-tuning); h_s from its integer weights."""
    arrays = read_arrays(Path(path), model_id)
    model = HyperpriorModel(config_from_arrays(arrays))
    state = model.state_dict()
    for name in state:
        if name.startswith(FLOAT_PREFIXES) and name in arrays:
            state[name] = torch.from_numpy(arrays[name].astype(np.float32))
    model.load_state_dict(state)
    ExactHyperSynthesis.from_arrays(arrays, "h_s").load_into(model.h_s)
    if model.context is not None:
        ExactContext.from_arrays(arrays, model.config.slices, model.config.m).load_into(
            model.context, model.spatial)
    return model


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m aecodec.train.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?")
    p.add_argument("--model-id")
    p.add_argument("--out", default="weights")
    p.add_argument("--note", default="")
    p.add_argument("--retire", action="append", default=[], metavar="MODEL_ID",
                   help="remove this older model's file and manifest entry (repeatable)")
    p.add_argument("--repack", action="store_true",
                   help="no checkpoint: store every model in --out but the default as its "
                        "difference from the default")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.repack:
        repack(out)
        for model_id, entry in manifest(out)["models"].items():
            print(f"{model_id}: {entry['file']} ({(out / entry['file']).stat().st_size:,} bytes)")
        return
    if args.checkpoint is None or args.model_id is None:
        p.error("give a checkpoint and --model-id (or --repack)")
    try:
        check_retirable(out, args.model_id, args.retire)
    except ValueError as e:
        p.error(str(e))
    from .loop import load_checkpoint  # loop imports this module for fine-tuning
    model, _, _ = load_checkpoint(args.checkpoint)
    digest = write_weights(model, args.model_id, out, args.note, args.retire)
    print(f"wrote {args.out}/{args.model_id}.npz sha256={digest}")
    for old in args.retire:
        print(f"retired {old}: its weights file and manifest entry are removed")


if __name__ == "__main__":
    main()
