"""What is installed, read without importing torch: the weights folder, its manifest and
default model, and the versions aecodec runs with (`aecodec --version`, for bug reports)."""
from __future__ import annotations

import json
import os
import platform
from importlib import metadata, resources
from pathlib import Path

from .errors import UnknownModelError

MANIFEST = "manifest.json"
# What decides the files and pixels aecodec makes, in the order a bug report wants them.
DEPENDENCIES = ("torch", "numpy", "pillow", "constriction", "click")


def weights_root():
    env = os.environ.get("AECODEC_WEIGHTS")
    if env:
        return Path(env)
    try:
        return resources.files("aecodec._weights")
    except ModuleNotFoundError:  # running from a source checkout that is not installed
        return Path(__file__).resolve().parent.parent / "weights"


def manifest(root=None) -> dict:
    root = root if root is not None else weights_root()
    try:
        return json.loads((root / MANIFEST).read_text())
    except (FileNotFoundError, NotADirectoryError, ModuleNotFoundError):
        return {"models": {}}


def default_model_id(m: dict | None = None) -> str:
    """The manifest's default model (m: an already read manifest of the installed weights)."""
    m = m if m is not None else manifest()
    if "default" not in m:
        raise UnknownModelError(f"no weights installed (looked in {weights_root()})")
    return m["default"]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def report() -> str:
    """aecodec's version, its models, Python, the platform and each dependency's version:
    from package metadata, so it costs no torch import."""
    from . import __version__
    m = manifest()
    models = ", ".join(sorted(m["models"])) or "none"
    deps = ", ".join(f"{d} {_version(d)}" for d in DEPENDENCIES)
    return "\n".join([
        f"aecodec {__version__}",
        f"models: {models} (default: {m.get('default', 'none')}) in {weights_root()}",
        f"Python {platform.python_version()} on {platform.platform()}",
        deps,
    ])
