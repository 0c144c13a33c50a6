"""Many files on a cluster: the codec mapped over paths with Dask (dask.distributed).

    from dask.distributed import Client
    from aecodec.cluster import compress_paths, summary

    client = Client("tcp://scheduler:8786")
    results = compress_paths(paths, "/shared/out", client=client, quality=50)
    print(summary(results))

Needs the optional extra: `pip install "aecodec[dask]"` (dask is imported only when a function
here talks to a cluster). Inputs are plain paths or `file://` URLs on a filesystem that the
client and every worker see under the same names; relative paths are made absolute on the client.

Each worker process keeps one Codec per (model id, limits) in a process-wide cache, so the
weights load once per worker however many files it gets. Files go to the workers in small
batches (one task per batch keeps the scheduler light with millions of files). Outputs are
written atomically (aecodec.output.write_atomic): never a partial file; an existing output is
skipped unless `force`. A file that fails becomes a "failed" record with its message and the
rest go on; a task that dies (a worker killed by the operating system, say) fails the records
of its batch only. Records are aecodec.batch.Result, in the order of the inputs.

Dask's nanny starts workers with OMP_NUM_THREADS=1, so torch runs one thread per Dask thread:
give workers one thread per core (`dask worker --nthreads 1 --nworkers N`, or the default).
"""
from __future__ import annotations

import math
import os
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from .batch import Result, compress_one, decompress_one
from .errors import AecError, InputError

INSTALL_HINT = 'pip install "aecodec[dask]"'
MAX_BATCH = 64  # files per task at most; tasks also stay about four times the worker threads


class MissingExtraError(AecError, ImportError):
    """dask.distributed is not installed: the `dask` extra is needed for aecodec.cluster."""


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtraError(
            f"aecodec.cluster needs dask.distributed, which is not installed ({exc}); "
            f"install the extra: {INSTALL_HINT}") from None
    return distributed


# --------------------------------------------------------------------------- paths and URLs
def local_path(item) -> Path:
    """A plain path or a `file://` URL as an absolute local path (other URLs: InputError)."""
    if isinstance(item, os.PathLike):
        return Path(item).absolute()
    text = str(item)
    if "://" in text:
        url = urlsplit(text)
        if url.scheme.lower() != "file":
            raise InputError(f"{text}: only plain paths and file:// URLs on a shared filesystem "
                             f"are supported, not {url.scheme}://")
        if url.netloc not in ("", "localhost"):
            raise InputError(f"{text}: a file:// URL must name a path on this filesystem "
                             f"(file:///path), not the host {url.netloc!r}")
        return Path(url2pathname(url.path)).absolute()  # decodes %20 and the like
    return Path(text).absolute()


def _display(item) -> Path:
    try:
        return local_path(item)
    except AecError:
        return Path(str(item))


# --------------------------------------------------------------------------- on the workers
_lock = threading.Lock()
_codecs: dict = {}
_loads: Counter = Counter()  # Codec instances made by this process, by model id
_files = 0  # files this process handled (ok, failed or skipped)


def get_codec(model_id: str | None = None, limits: dict | None = None):
    """This process's Codec for a model (default: the installed default) and limits, made on
    first use and kept: a worker loads each model's weights once."""
    from . import weights
    from .codec import Codec
    limits = limits or {}
    mid = model_id or weights.default_model_id()  # one cache entry for "default" and its id
    key = (mid, tuple(sorted(limits.items())))
    with _lock:  # threads of one worker wait for the first load instead of repeating it
        codec = _codecs.get(key)
        if codec is None:
            codec = _codecs[key] = Codec(mid, **limits)
            _loads[mid] += 1
    return codec


def worker_stats() -> dict:
    """What this process did: {"codec_loads": {model id: Codecs made}, "weights_loads": weight
    files read (aecodec.weights.load), "files": files handled}. Read it on every worker with
    `client.run(aecodec.cluster.worker_stats)`."""
    import sys
    weights = sys.modules.get(f"{__package__}.weights")
    return {"codec_loads": dict(_loads), "files": _files,
            "weights_loads": weights.files_read() if weights else 0}


def _message(exc: BaseException) -> str:
    if isinstance(exc, (AecError, OSError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"  # unexpected: keep the type, the job goes on


def _run_batch(items, *, kind: str, force: bool, option, limits: dict, model_id: str | None):
    """One task: [(index, src, dst), ...] -> [(index, Result), ...]."""
    global _files
    out = []
    try:
        codec = get_codec(model_id, limits)
    except Exception as exc:  # no weights on this worker, unknown model id: every file fails
        return [(i, Result(src, dst, "failed", _message(exc))) for i, src, dst in items]
    job = compress_one if kind == "compress" else decompress_one
    for i, src, dst in items:
        if dst.exists() and not force:
            result = Result(src, dst, "skipped", "output exists (use --force to overwrite)")
        else:
            try:
                result = job(codec, src, dst, force, option)
            except Exception as exc:
                result = Result(src, dst, "failed", _message(exc))
        out.append((i, result))
        with _lock:
            _files += 1
    return out


# --------------------------------------------------------------------------- on the client
def _auto_batch(client, n: int) -> int:
    threads = sum(client.nthreads().values()) or 1
    return max(1, min(MAX_BATCH, math.ceil(n / (4 * threads))))


def _map(kind: str, paths, out_dir, *, client, suffix: str, force: bool, option, limits: dict | None,
         model_id: str | None, batch_size: int | None, on_result) -> list[Result]:
    dist = _distributed()
    out_dir = local_path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    on_result = on_result or (lambda r: None)
    paths = list(paths)
    results: dict[int, Result] = {}  # by index into paths
    todo: list[tuple[int, Path, Path]] = []
    claimed: dict[Path, Path] = {}
    for i, item in enumerate(paths):
        try:
            src = local_path(item)
        except AecError as exc:
            src = _display(item)
            results[i] = Result(src, out_dir / (src.stem + suffix), "failed", str(exc))
            on_result(results[i])
            continue
        dst = out_dir / (src.stem + suffix)
        if dst in claimed:  # two inputs with one stem: the second would clobber or be skipped
            if claimed[dst] != src:
                results[i] = Result(src, dst, "failed", f"{claimed[dst]} has the same output name")
            else:
                results[i] = Result(src, dst, "skipped", "listed twice")
            on_result(results[i])
            continue
        claimed[dst] = src
        todo.append((i, src, dst))
    del claimed
    if todo:
        size = batch_size or _auto_batch(client, len(todo))
        batches = [todo[k:k + size] for k in range(0, len(todo), size)]
        futures = client.map(_run_batch, batches, pure=False, kind=kind, force=force,
                             option=option, limits=dict(limits or {}), model_id=model_id)
        items_of = dict(zip(futures, batches))
        del batches
        try:
            for future, value in dist.as_completed(futures, with_results=True, raise_errors=False):
                items = items_of.pop(future)
                if future.status != "finished":  # the task itself died: its files failed
                    why = _message(future.exception()) if future.status == "error" else future.status
                    value = [(i, Result(src, dst, "failed", f"task failed: {why}"))
                             for i, src, dst in items]
                for i, result in value:
                    results[i] = result
                    on_result(result)
        except BaseException:  # Ctrl-C, a lost scheduler: leave nothing running for us
            try:
                client.cancel(list(items_of))
            except Exception:
                pass
            raise
    return [results[i] for i in range(len(paths))]


def compress_paths(paths, out_dir, *, client, quality: float = 50.0, bpp: float | None = None,
                   size: int | None = None, effort: int = 0, metadata="all", force: bool = False,
                   model_id: str | None = None,
                   limits: dict | None = None, batch_size: int | None = None,
                   on_result=None) -> list[Result]:
    """Compress image files (paths or file:// URLs) into `out_dir/STEM.aec` on a Dask cluster.

    `client` is a dask.distributed Client; `quality`, `bpp`, `size`, `effort` and `metadata`
    mean what they mean for Codec.compress; `model_id` picks installed weights; `limits` is Codec's max_pixels and
    max_dimension. Existing outputs are skipped unless `force`. `batch_size` files go in one
    task (default: up to 64, about four tasks per worker thread). `on_result(record)` is called
    as each file finishes. Returns one aecodec.batch.Result per input, in input order.
    """
    if not 0.0 <= float(quality) <= 100.0:
        raise InputError(f"quality must be between 0 and 100, got {quality}")
    if bpp is not None and size is not None:
        raise InputError("give at most one of size and bpp")
    if (bpp is not None and not bpp > 0) or (size is not None and not size > 0):
        raise InputError(f"the size or bpp target must be positive, got {size or bpp}")
    from .efforts import check_effort
    check_effort(effort)  # a bad effort or metadata fails here, not once per file on the workers
    from .metadata import check_policy
    check_policy(metadata)
    targets = {"quality": float(quality), "bpp": bpp, "size": size, "effort": effort,
               "metadata": metadata}
    return _map("compress", paths, out_dir, client=client, suffix=".aec", force=force,
                option=targets, limits=limits, model_id=model_id, batch_size=batch_size,
                on_result=on_result)


def decompress_paths(paths, out_dir, *, client, format: str = "png", force: bool = False,
                     limits: dict | None = None, batch_size: int | None = None,
                     on_result=None) -> list[Result]:
    """Decompress .aec files (paths or file:// URLs) into `out_dir/STEM.FORMAT` (any Pillow
    format by extension, default PNG) on a Dask cluster; otherwise as compress_paths. The model
    of each file comes from its header."""
    from PIL import Image
    ext = "." + format.lower().lstrip(".")
    Image.init()
    fmt = Image.EXTENSION.get(ext)
    if fmt is None:
        raise InputError(f"unknown image format {format!r}")
    return _map("decompress", paths, out_dir, client=client, suffix=ext, force=force, option=fmt,
                limits=limits, model_id=None, batch_size=batch_size, on_result=on_result)


def totals(results) -> dict:
    """Counts and sums of a run: files, ok, failed, skipped, bytes_in, bytes_out, pixels, bpp
    (of the .aec files of the successful records)."""
    ok = [r for r in results if r.status == "ok"]
    pixels = sum(r.pixels for r in ok)
    aec = sum(r.bytes_out if r.dst.suffix == ".aec" else r.bytes_in for r in ok)
    return {"files": len(results), "ok": len(ok),
            "failed": sum(r.status == "failed" for r in results),
            "skipped": sum(r.status == "skipped" for r in results),
            "bytes_in": sum(r.bytes_in for r in ok), "bytes_out": sum(r.bytes_out for r in ok),
            "pixels": pixels, "bpp": 8 * aec / pixels if pixels else 0.0}


def summary(results, seconds: float | None = None) -> str:
    """The batch CLI's one-line summary: files, ok, failed, skipped, bytes in and out, mean bpp,
    and with `seconds` (the wall time of the run) the throughput in Mpx/s."""
    t = totals(results)
    line = (f"{t['files']} files: {t['ok']} ok, {t['failed']} failed, {t['skipped']} skipped; "
            f"{t['bytes_in']} bytes in, {t['bytes_out']} bytes out; mean {t['bpp']:.4f} bpp")
    if seconds is not None:
        line += f"; {t['pixels'] / 1e6 / max(seconds, 1e-9):.2f} Mpx/s"
    return line


__all__ = ["compress_paths", "decompress_paths", "summary", "totals", "local_path", "get_codec",
           "worker_stats", "MissingExtraError", "Result"]
