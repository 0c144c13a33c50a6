"""Bring a checkpoint back from a lent GPU machine, whose files return in parts of at most
16 MiB (8 parts, 64 MiB in all): the model and run state without Adam's moments (40 MB in
float32 for this 10M-parameter model instead of 121 MB; 23 MB with `--half`, so two runs fit
in one call's files), split into numbered parts beside a small index with each part's sha256
and the whole file's.

    python -m aecodec.train.device pack [--half] runs/gpu/last.ckpt $OUT/ckpt     # there
    python -m aecodec.train.device unpack FILES_AT/ckpt runs/gpu.ckpt    # here

The unpacked file resumes like any checkpoint (`python -m aecodec.train --resume
runs/gpu.ckpt`, Adam starting afresh) and exports like one. tools/device/ has the scripts
around it; weights/TRAINING.md the runbook.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
from pathlib import Path

import torch

PART_BYTES = 15 * 2**20  # under the 16 MiB a returned file may have
INDEX = "index.json"


HALF_FROM = 65536  # with half=True, float tensors this large travel as float16


def halved(state: dict) -> dict:
    """The model state with its large float tensors (convolution kernels, the bulk of the
    bytes) in float16, the precision the shipped weights have; small ones (gains, GDN's
    gamma and beta near their floors, density parameters) stay float32, where float16 would
    round them to subnormals. Loading converts back to float32 (load_state_dict copies)."""
    return {k: v.half() if v.is_floating_point() and v.numel() >= HALF_FROM else v
            for k, v in state.items()}


def pack(ckpt: str | Path, folder: str | Path, part_bytes: int = PART_BYTES,
         half: bool = False) -> list[Path]:
    """Writes folder/part-NN and folder/index.json; returns the parts. half=True halves the
    bytes (see `halved`), so two runs' checkpoints fit in what one call may return."""
    full = torch.load(ckpt, map_location="cpu", weights_only=True)
    if half:
        full["model"] = halved(full["model"])
    buf = io.BytesIO()
    torch.save({k: full[k] for k in ("model", "config", "state")}, buf)
    data = buf.getvalue()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts: list[Path] = []
    digests: list[str] = []
    for i in range(0, len(data), part_bytes):
        chunk = data[i:i + part_bytes]
        parts.append(folder / f"part-{len(parts):02d}")
        parts[-1].write_bytes(chunk)
        digests.append(hashlib.sha256(chunk).hexdigest())
    index = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
             "parts": [{"name": p.name, "sha256": d} for p, d in zip(parts, digests)],
             "step": full["state"].get("step")}
    (folder / INDEX).write_text(json.dumps(index, indent=1))
    return parts


def unpack(folder: str | Path, out: str | Path) -> Path:
    """Joins the parts listed in folder/index.json into `out`, checking every hash first, so
    a missing or damaged part never leaves a checkpoint behind."""
    folder, out = Path(folder), Path(out)
    index = json.loads((folder / INDEX).read_text())
    chunks = []
    for part in index["parts"]:
        chunks.append((folder / part["name"]).read_bytes())
        if hashlib.sha256(chunks[-1]).hexdigest() != part["sha256"]:
            raise SystemExit(f"{folder / part['name']}: sha256 does not match {INDEX}")
    data = b"".join(chunks)
    if len(data) != index["bytes"] or hashlib.sha256(data).hexdigest() != index["sha256"]:
        raise SystemExit(f"{folder}: the joined parts do not match {INDEX}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m aecodec.train.device", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("pack", help="checkpoint -> parts + index.json in a folder")
    a.add_argument("ckpt")
    a.add_argument("folder")
    a.add_argument("--half", action="store_true",
                   help="large float tensors as float16 (half the bytes; see `halved`)")
    b = sub.add_parser("unpack", help="folder of parts -> checkpoint (hashes checked)")
    b.add_argument("folder")
    b.add_argument("out")
    args = p.parse_args(argv)
    if args.command == "pack":
        parts = pack(args.ckpt, args.folder, half=args.half)
        print(f"{len(parts)} parts in {args.folder}")
    else:
        print(unpack(args.folder, args.out))


if __name__ == "__main__":
    main()
