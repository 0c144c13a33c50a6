"""How a model's arrays are stored: one .npz file per model (numpy arrays, no pickle).

The default model's file holds its arrays whole. Every other installed model is kept for the
files it made, and each is a few fine-tuning runs away from the default, so it is stored as its
difference from the default: for every array of the same name, dtype and shape, the
difference of the two arrays' bit patterns (unsigned, wrapping), which is mostly small numbers
and compresses to about half (cc-v30 against cc-v31: 18.2 MB whole, 9.1 MB as a difference).
Bit patterns, not values: the rebuilt arrays are the original ones bit for bit, float16 NaNs
and signed zeros included.

A model's identity is the sha256 of the file it was first written as (the first 8 bytes are in
every .aec file it makes); a model stored as a difference keeps that identity, and its manifest
entry adds the sha256 of the stored file, the model it is relative to, and `content_digest` of
the rebuilt arrays, which the loader checks (aecodec.weights.read_arrays).
"""
from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

DELTA_NAMES = "__delta__"  # in a difference file: JSON list of the arrays stored as differences


def _bits(a: np.ndarray) -> np.ndarray:
    """The array's bit patterns as unsigned integers of the same width and byte order."""
    return a.view(np.dtype(f"{a.dtype.str[0]}u{a.dtype.itemsize}"))


def content_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order: equal exactly
    when the arrays are."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode() + b"\0")
        h.update(a.tobytes())
    return h.hexdigest()


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    members: dict[str, Any] = dict(arrays)  # Any: numpy's stubs take **kwargs for allow_pickle
    np.savez_compressed(buf, **members)
    return buf.getvalue()


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _same_layout(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.dtype.kind in "biuf"


def difference(arrays: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray]
               ) -> dict[str, np.ndarray]:
    """What a difference file holds: `arrays` less `base` where they match in name, dtype and
    shape, the rest whole, and the list of the former."""
    names = [n for n in sorted(arrays) if n in base and _same_layout(arrays[n], base[n])]
    out = {n: np.asarray(a) for n, a in arrays.items()}
    for n in names:
        out[n] = _bits(arrays[n]) - _bits(base[n])  # unsigned: wraps, and is undone exactly
    out[DELTA_NAMES] = np.frombuffer(json.dumps(names).encode(), dtype=np.uint8)
    return out


def rebuild(stored: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray]
            ) -> dict[str, np.ndarray]:
    """The arrays a difference file was made from (ValueError when `base` cannot be the
    model it was made against)."""
    if DELTA_NAMES not in stored:
        raise ValueError("not a difference file")
    names = json.loads(stored[DELTA_NAMES].tobytes().decode())  # (a ValueError if not JSON)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("the list of differences is malformed")
    out = {n: a for n, a in stored.items() if n != DELTA_NAMES}
    for n in names:
        b, d = base.get(n), out.get(n)
        if b is None or d is None or b.shape != d.shape or _bits(b).dtype != d.dtype:
            raise ValueError(f"array {n!r} of the difference has no counterpart in the base")
        out[n] = (_bits(b) + d).view(b.dtype)
    return out
