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
    """The weights folder's manifest ({"models": {}} where there is none), checked for the
    shape the loader relies on: a folder that AECODEC_WEIGHTS names may hold anything."""
    root = root if root is not None else weights_root()
    try:
        data = (root / MANIFEST).read_bytes()
    except (FileNotFoundError, NotADirectoryError, ModuleNotFoundError):
        return {"models": {}}
    try:
        m = json.loads(data)
    except ValueError as exc:  # not UTF-8, not JSON
        raise UnknownModelError(f"weights manifest {root / MANIFEST} is not JSON: {exc}") from None
    problem = _manifest_problem(m)
    if problem:
        raise UnknownModelError(f"weights manifest {root / MANIFEST} is malformed: {problem}")
    return m


def _manifest_problem(m) -> str | None:
    """What is wrong with a parsed manifest, or None."""
    if not isinstance(m, dict) or not isinstance(m.get("models"), dict):
        return 'no "models" object'
    models = m["models"]
    for model_id, entry in models.items():
        if not isinstance(entry, dict):
            return f"model {model_id!r} is not an object"
        file = entry.get("file")
        if not isinstance(file, str) or not file or Path(file).name != file or file in (".", ".."):
            return f"model {model_id!r} has no plain file name"
        for key in ("sha256", "stored_sha256", "content_sha256"):
            value = entry.get(key)
            if (key == "sha256" or value is not None) and not _is_sha256(value):
                return f"model {model_id!r}: {key} is not a sha256"
        if "base" in entry and entry["base"] not in models:
            return f"model {model_id!r} is stored against {entry['base']!r}, which is not listed"
    if "default" in m and m["default"] not in models:
        return f"the default {m['default']!r} is not listed"
    retired = m.get("retired", {})
    if not isinstance(retired, dict) or not all(isinstance(r, dict) for r in retired.values()):
        return '"retired" is not an object of objects'
    return None


def _is_sha256(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and \
        all(c in "0123456789abcdef" for c in value)


def default_model_id(m: dict | None = None) -> str:
    """The manifest's default model (m: an already read manifest of the installed weights)."""
    m = m if m is not None else manifest()
    if "default" not in m:
        raise UnknownModelError(f"no weights installed (looked in {weights_root()})")
    return m["default"]


def why_not_installed(model_id: str, hash8: bytes, m: dict | None = None) -> str | None:
    """None when the weights that made a file (its model id and weights hash) are installed,
    else what is missing, to follow "file was made by" (and where a retired model's files
    decode, from the manifest's `retired` map)."""
    m = m if m is not None else manifest()
    known = m["models"]
    if model_id not in known:
        commit = m.get("retired", {}).get(model_id, {}).get("decodes_with_commit")
        where = f"; it was retired, and its files decode with aecodec at commit {commit} " \
            "(README.md, Models)" if commit else ""
        return (f"model {model_id!r}, which is not installed "
                f"(installed: {', '.join(sorted(known)) or 'none'}){where}")
    if bytes.fromhex(known[model_id]["sha256"])[:8] != hash8:
        return f"other weights of model {model_id!r} (hash {hash8.hex()})"
    return None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def report() -> str:
    """aecodec's version, its models, Python, the platform and each dependency's version:
    from package metadata, so it costs no torch import."""
    from . import __version__
    try:
        m = manifest()
        models = f"models: {', '.join(sorted(m['models'])) or 'none'} " \
            f"(default: {m.get('default', 'none')}) in {weights_root()}"
    except UnknownModelError as exc:
        models = f"models: none usable ({exc})"
    deps = ", ".join(f"{d} {_version(d)}" for d in DEPENDENCIES)
    return "\n".join([
        f"aecodec {__version__}",
        models,
        f"Python {platform.python_version()} on {platform.platform()}",
        deps,
    ])
