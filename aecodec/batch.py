"""Many files at once: expand sources, run the codec on worker processes, report.

Each worker process loads the weights once (pool initializer) and runs one thread, so `-j N`
uses N cores without oversubscription. One bad file is reported and the rest go on; outputs
go through aecodec.output (atomic, never clobbered unless forced, never the input).
"""
from __future__ import annotations

import glob
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .errors import AecError, AecWarning
from .metadata import save
from .output import write_atomic

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm",
                    ".pgm", ".pnm", ".tga"}
AEC_EXTENSIONS = {".aec"}


@dataclass
class Result:
    src: Path
    dst: Path
    status: str  # "ok", "skipped" or "failed"
    message: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    pixels: int = 0
    seconds: float = 0.0


def expand_sources(items, extensions: set[str]) -> list[Path]:
    """Files, folders (their files with a matching extension) and glob patterns, in order."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in extensions)
        elif any(c in str(item) for c in "*?[") and not path.exists():
            out += sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
        else:
            out.append(path)  # a missing file is reported as a failure of its own
    return list(dict.fromkeys(out))  # each path once, first mention first


def plan(sources: list[Path], out_dir: Path, suffix: str) -> list[tuple[Path, Path]]:
    return [(src, out_dir / (src.stem + suffix)) for src in sources]


_codec = None


def _init_worker(limits: dict, threads: int) -> None:
    global _codec
    import torch

    from .codec import Codec
    torch.set_num_threads(threads)
    _codec = Codec(**limits)


def compress_one(codec, src: Path, dst: Path, force: bool, targets: dict) -> Result:
    """Encode one file with `codec` and write it atomically (shared with aecodec.cluster)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # reported with the file, not lost
        warnings.simplefilter("always", AecWarning)
        image = codec.open_image(src)
        data = codec.compress(image, **targets)
    write_atomic(dst, lambda tmp: Path(tmp).write_bytes(data), force, (src,))
    notes = "; ".join(str(w.message) for w in caught if issubclass(w.category, AecWarning))
    return Result(src, dst, "ok", notes, src.stat().st_size, len(data), image.width * image.height,
                  time.perf_counter() - t0)


def decompress_one(codec, src: Path, dst: Path, force: bool, fmt: str) -> Result:
    """Decode one file with `codec` and write it atomically (shared with aecodec.cluster)."""
    t0 = time.perf_counter()
    image = codec.decompress(src)
    notes: list[str] = []
    write_atomic(dst, lambda tmp: notes.extend(save(image, tmp, fmt)), force, (src,))
    return Result(src, dst, "ok", "; ".join(notes), src.stat().st_size, dst.stat().st_size,
                  image.width * image.height, time.perf_counter() - t0)


def _run_one(kind: str, src: Path, dst: Path, force: bool, option) -> Result:
    if dst.exists() and not force:
        return Result(src, dst, "skipped", "output exists (use --force to overwrite)")
    try:
        job = compress_one if kind == "compress" else decompress_one
        return job(_codec, src, dst, force, option)
    except (AecError, OSError) as exc:
        return Result(src, dst, "failed", str(exc) or type(exc).__name__)


def run(kind: str, pairs: list[tuple[Path, Path]], *, force: bool, option, limits: dict,
        workers: int, on_result) -> list[Result]:
    """Run every (src, dst) pair; call on_result(result) as each finishes (in any order)."""
    results = []
    if workers <= 1 or len(pairs) <= 1:
        _init_worker(limits, max(1, min(os.cpu_count() or 1, workers)))
        for src, dst in pairs:
            results.append(_run_one(kind, src, dst, force, option))
            on_result(results[-1])
        return results
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(limits, 1)) as pool:
        futures = [pool.submit(_run_one, kind, src, dst, force, option) for src, dst in pairs]
        try:
            for future in as_completed(futures):
                results.append(future.result())
                on_result(results[-1])
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return results


def summary(results: list[Result], seconds: float) -> str:
    ok = [r for r in results if r.status == "ok"]
    failed = sum(r.status == "failed" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    bytes_in = sum(r.bytes_in for r in ok)
    bytes_out = sum(r.bytes_out for r in ok)
    pixels = sum(r.pixels for r in ok)
    aec_bytes = sum(r.bytes_out if r.dst.suffix == ".aec" else r.bytes_in for r in ok)
    bpp = 8 * aec_bytes / pixels if pixels else 0.0
    return (f"{len(results)} files: {len(ok)} ok, {failed} failed, {skipped} skipped; "
            f"{bytes_in} bytes in, {bytes_out} bytes out; mean {bpp:.4f} bpp; "
            f"{pixels / 1e6 / max(seconds, 1e-9):.2f} Mpx/s")
