"""Shipped weights: model ids -> hash-checked arrays -> a model ready to code.

Weights live in the repository's top-level `weights/` folder, installed as the package
`aecodec._weights` (see pyproject.toml), so a plain `pip install .` and an editable
install both find them. `AECODEC_WEIGHTS` may point at another folder with a manifest.
Files are numpy .npz (no pickle): loading weights never executes code.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass

import numpy as np
import torch

from . import weight_files
from .entropy import TableSet
from .errors import UnknownModelError
from .exact import ExactHyperSynthesis
from .installed import (MANIFEST, default_model_id, manifest, weights_root,  # noqa: F401 (weights.*)
                        why_not_installed)
from .model import HyperpriorModel, ModelConfig
from .nn.gdn import GDN
from .y_coding import ExactContext

SCALE_TABLE_SIZE = 64
# Shipped as floats: everything the entropy coder does not see (the transforms, the gains,
# residual prediction) plus the z density its tables were frozen from. h_s and the context
# networks ship as integers (aecodec.exact).
FLOAT_PREFIXES = ("g_a.", "g_s.", "h_a.", "lrp.", "restoration.", "log_gain", "log_inv_gain",
                  "z_density.")


def read_arrays(root, model_id: str | None = None, m: dict | None = None,
                _chain: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays of one model, after checking its file against the manifest's sha256 (and a
    model stored as a difference, aecodec.weight_files, rebuilt and checked as a whole);
    m: root's manifest when the caller has already read it."""
    m = m if m is not None else manifest(root)
    model_id = model_id or default_model_id(m)
    entry = m["models"].get(model_id)
    if entry is None:
        known = ", ".join(sorted(m["models"])) or "none"
        raise UnknownModelError(f"unknown model id {model_id!r} (installed: {known})")
    try:
        data = (root / entry["file"]).read_bytes()
    except OSError as exc:
        raise UnknownModelError(f"weights file of {model_id!r} cannot be read: {exc}") from None
    if hashlib.sha256(data).hexdigest() != entry.get("stored_sha256", entry["sha256"]):
        raise UnknownModelError(f"weights file of {model_id!r} does not match its manifest hash")
    try:
        arrays = weight_files.read_npz(data)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UnknownModelError(f"weights file of {model_id!r} is not a numpy .npz: {exc}"
                                ) from None
    base = entry.get("base")
    if base is None:
        return arrays
    if base in _chain + (model_id,):
        raise UnknownModelError(f"weights of {model_id!r}: the manifest's bases form a loop")
    try:
        arrays = weight_files.rebuild(arrays, read_arrays(root, base, m, _chain + (model_id,)))
    except ValueError as exc:
        raise UnknownModelError(f"weights of {model_id!r} do not rebuild from {base!r}: {exc}"
                                ) from None
    if weight_files.content_digest(arrays) != entry.get("content_sha256"):
        raise UnknownModelError(f"weights of {model_id!r} rebuilt from {base!r} are not the "
                                "arrays its manifest names")
    return arrays


def config_from_arrays(arrays) -> ModelConfig:
    return ModelConfig.from_dict(json.loads(arrays["config"].tobytes().decode()))


@dataclass
class LoadedModel:
    model_id: str
    sha256: str
    config: ModelConfig
    net: HyperpriorModel  # float g_a, g_s, h_a, residual prediction and the gains
    h_s: ExactHyperSynthesis
    z_tables: TableSet
    y_tables: TableSet
    thresholds: np.ndarray
    context: ExactContext | None  # the integer slice (and checkerboard) networks of a context model

    @property
    def hash8(self) -> bytes:
        return bytes.fromhex(self.sha256)[:8]


_LOADED: dict[tuple[str, str, str | None], LoadedModel] = {}
_LOADED_MAX = 4
_reads = 0  # weight files read by load() in this process (cache misses)


def files_read() -> int:
    """How many weight files `load` has read in this process: one per model unless the
    cache had to drop it or the folder changed (aecodec.cluster reports it per worker)."""
    return _reads


def load(model_id: str | None = None) -> LoadedModel:
    """The model, loaded once: cached by weights folder, id and the manifest's hash, so a
    process that points AECODEC_WEIGHTS elsewhere, or replaces a weights file, never gets
    a stale model back."""
    root = weights_root()
    return _load_listed(root, manifest(root), model_id)


def _load_listed(root, m: dict, model_id: str | None) -> LoadedModel:
    """`load` with the manifest m of root already read (one read per call, not three)."""
    model_id = model_id or default_model_id(m)
    key = (str(root), model_id, m["models"].get(model_id, {}).get("sha256"))
    if key not in _LOADED:
        global _reads
        _reads += 1
        if len(_LOADED) >= _LOADED_MAX:
            del _LOADED[next(iter(_LOADED))]  # the oldest
        try:
            _LOADED[key] = _read_model(root, m, model_id)
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:  # arrays missing or amiss
            raise UnknownModelError(f"weights of {model_id!r} are not a model this aecodec can "
                                    f"load ({type(exc).__name__}: {exc})") from None
    return _LOADED[key]


def _read_model(root, m: dict, model_id: str) -> LoadedModel:
    arrays = read_arrays(root, model_id, m)
    config = config_from_arrays(arrays)
    net = HyperpriorModel(config)
    state = net.state_dict()
    for name in state:
        if name.startswith(FLOAT_PREFIXES):
            state[name] = torch.from_numpy(arrays[name].astype(np.float32))
    net.load_state_dict(state)
    net.h_s = net.context = net.spatial = None  # decoding uses the exact integer networks only
    net.eval().requires_grad_(False)
    # NHWC weights: oneDNN's CPU (transposed) convolutions run them 1.2-1.7x faster (g_s of a
    # Kodak image: 0.84 -> 0.60 s on one thread); the arithmetic is the same up to rounding.
    net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    for module in net.modules():  # each GDN's input is a convolution output only it reads
        if isinstance(module, GDN):
            module.overwrite_input = True
    return LoadedModel(model_id, m["models"][model_id]["sha256"], config, net,
                       ExactHyperSynthesis.from_arrays(arrays, "h_s"),
                       TableSet.from_arrays(arrays, "z"), TableSet.from_arrays(arrays, "y"),
                       arrays["y.thresholds"].astype(np.int64),
                       ExactContext.from_arrays(arrays, config.slices, config.m)
                       if config.slices else None)


def find(model_id: str, hash8: bytes) -> LoadedModel:
    """The installed model that made a file, or UnknownModelError naming what is missing."""
    root = weights_root()
    m = manifest(root)
    missing = why_not_installed(model_id, hash8, m)
    if missing:
        raise UnknownModelError(f"file was made by {missing}")
    return _load_listed(root, m, model_id)
