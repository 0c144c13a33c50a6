"""The `aecodec` command: compress, decompress, info.

Errors become one line on stderr and a non-zero exit (1: the input or file is bad, 2: usage,
128 + N: interrupted by signal N, e.g. 130 for Ctrl-C). Outputs are written to a temporary file
`.NAME.XXXXXXXX.part` in the target folder, flushed to disk and renamed into place, so an
interrupted run never leaves a partial file under the final name or truncates an existing one;
Ctrl-C and SIGTERM remove the temporary file too (only a SIGKILL or a power cut can leave one).
See docs/ROBUSTNESS.md.
"""
from __future__ import annotations

import contextlib
import io
import os
import time
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from . import container
from .errors import AecError
from .efforts import COST as EFFORT_COST, DEFAULT_QUALITY, MAX_EFFORT
from .output import PART_SUFFIX, check_output, write_atomic  # noqa: F401 (re-exported)

def _error_line(message: str) -> None:
    click.echo(f"aecodec: error: {message}", err=True)


def _fail(message: str, code: int = 1):
    _error_line(message)
    sys.exit(code)


class _Signalled(BaseException):
    """Raised by the SIGTERM/SIGHUP handler so that cleanup runs as for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_signalled(signum, frame):
    raise _Signalled(signum)


def _limits(max_pixels: int | None, max_dimension: int | None, no_limits: bool) -> dict:
    if no_limits:
        return {"max_pixels": None, "max_dimension": None}
    return {"max_pixels": max_pixels or container.DEFAULT_MAX_PIXELS,
            "max_dimension": max_dimension or container.DEFAULT_MAX_DIMENSION}


def _warn_line(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"aecodec: warning: {message}", err=True)


def _run(fn):
    """Run a command's job: every failure is one line on stderr and a non-zero exit code,
    every warning one line too."""
    handlers = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            try:
                handlers[sig] = signal.signal(sig, _raise_signalled)
            except ValueError:  # not the main thread: leave signals alone
                pass
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warn_line
            return fn()
    except AecError as exc:
        _fail(str(exc))
    except click.ClickException as exc:
        _fail(exc.format_message())
    except KeyboardInterrupt:
        _fail("interrupted", 128 + signal.SIGINT)
    except _Signalled as exc:
        _fail(f"terminated by signal {exc.signum}", 128 + exc.signum)
    except BrokenPipeError:
        _reader_gone()
    except MemoryError:
        _fail("out of memory (a smaller --max-pixels refuses such images up front)")
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("AECODEC_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (please report it; "
              "AECODEC_DEBUG=1 shows the traceback)")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _reader_gone():
    """Standard output's reader went away (`aecodec info x.aec | head -1`): stop quietly
    with the status of a process ended by SIGPIPE, as Unix tools do. Standard output is
    pointed at the null device first, so that flushing it at exit does not fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1)


def _limit_options(fn):
    fn = click.option("--no-limits", is_flag=True,
                      help="Lift the pixel and dimension limits (trusted input only).")(fn)
    fn = click.option("--max-dimension", type=click.IntRange(1), default=None,
                      help=f"Refuse images with a longer side "
                           f"(default {container.DEFAULT_MAX_DIMENSION}).")(fn)
    fn = click.option("--max-pixels", type=click.IntRange(1), default=None,
                      help=f"Refuse larger images (default {container.DEFAULT_MAX_PIXELS}).")(fn)
    return fn


def _device_option(fn):
    return click.option("--device", default="cpu", show_default=True,
                        help="Where the transforms run: auto (CUDA when present), cpu, cuda or "
                             "cuda:N. Files decode to the same symbols whichever device made "
                             "them.")(fn)


def _parse_crop(ctx, param, text: str | None):
    from .units import parse_box
    try:
        return None if text is None else parse_box(text, "crop")
    except AecError as exc:
        raise click.BadParameter(str(exc)) from None


def _parse_size(text: str | None) -> int | None:
    from .units import parse_size
    try:
        return None if text is None else parse_size(text)
    except AecError as exc:
        raise click.BadParameter(str(exc)) from None


def target_options(fn):
    """-q/--quality, --bpp and --size: what a compress command aims at (one of them), and
    --effort: how hard the encoder works at it."""
    fn = click.option("--effort", type=click.IntRange(0, MAX_EFFORT), default=0,
                      show_default=True,
                      help="Encoder effort: " + EFFORT_COST)(fn)
    fn = click.option("--size", "size", type=str, default=None, callback=lambda c, p, v: _parse_size(v),
                      help="Largest file size, e.g. 20000, 20KB, 1.5MB, 64KiB (chooses the "
                           "quality).")(fn)
    fn = click.option("--bpp", type=click.FloatRange(0, min_open=True), default=None,
                      help="Target bits per pixel of the whole file (chooses the quality).")(fn)
    fn = click.option("-q", "--quality", type=click.FloatRange(0, 100), default=DEFAULT_QUALITY,
                      show_default=True, help="0 (smallest) .. 100 (best); continuous.")(fn)
    return fn


def metadata_option(fn):
    return click.option("--metadata", type=click.Choice(["all", "color", "none"]), default="all",
                        show_default=True,
                        help="What of the image's metadata the file keeps: all (ICC color "
                             "profile, EXIF, XMP), color (the ICC profile only) or none.")(fn)


def _batch_options(fn):
    fn = click.option("-j", "--jobs", type=click.IntRange(1), default=None,
                      help="Parallel worker processes in batch mode (default: all cores).")(fn)
    fn = click.option("-o", "--output-dir", type=click.Path(path_type=Path, file_okay=False),
                      default=None, help="Batch mode: every PATH is a source; outputs go here.")(fn)
    return fn


def _stdio(path: Path) -> bool:
    """`-` stands for standard input (SRC) or standard output (DST)."""
    return str(path) == "-"


def _shown(src: Path, dst: Path) -> str:
    return f"{'<stdin>' if _stdio(src) else src} -> {'<stdout>' if _stdio(dst) else dst}"


def _output_stream(dst: Path, force: bool, inputs: tuple[Path, ...]):
    """Standard output's binary stream when DST is `-`; otherwise None, once DST is known to
    be writable (checked before the work, and again when writing)."""
    if not _stdio(dst):
        check_output(dst, force, inputs)
        return None
    if sys.stdout.isatty():
        raise click.UsageError("refusing to write binary data to a terminal: redirect or pipe "
                               "the output, or give DST")
    return sys.stdout.buffer


def _single(paths: tuple[Path, ...], suffix: str) -> tuple[Path, Path]:
    """(SRC, DST) of a one-file command; DST defaults to SRC with `suffix` (photo.png ->
    photo.aec), which like any output is never overwritten without --force, and to standard
    output when SRC is standard input (`-`)."""
    if len(paths) == 1 and _stdio(paths[0]):
        return paths[0], paths[0]
    if len(paths) == 1:
        if paths[0].suffix.lower() == suffix:
            raise click.UsageError(f"{paths[0]} already ends in {suffix}: give DST")
        return paths[0], paths[0].with_suffix(suffix)
    if len(paths) != 2:
        raise click.UsageError("give SRC [DST] for one file, or sources with -o/--output-dir DIR")
    return paths[0], paths[1]


def _batch(kind: str, paths, output_dir: Path, jobs: int | None, force: bool, option, limits: dict,
           suffix: str = ".aec") -> None:
    """Run a batch; plain lines when not on a terminal, a progress bar when on one."""
    def job():
        from . import batch
        exts = batch.IMAGE_EXTENSIONS if kind == "compress" else batch.AEC_EXTENSIONS
        sources = batch.expand_sources(paths, exts)
        if not sources:
            raise click.ClickException("no input files found")
        output_dir.mkdir(parents=True, exist_ok=True)
        pairs = batch.plan(sources, output_dir, suffix)
        workers = min(jobs or os.cpu_count() or 1, len(pairs))
        t0 = time.perf_counter()
        with progress(len(pairs)) as report:
            results = batch.run(kind, pairs, force=force, option=option, limits=limits,
                                workers=workers, on_result=report)
        finish(results, t0)
    _run(job)


@contextlib.contextmanager
def progress(total: int):
    """A per-file `report(result)`: a progress bar on a terminal (problems printed above it),
    one plain line per file otherwise (logs, pipes, CI)."""
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=total, unit="file", file=sys.stderr)

    def report(r) -> None:
        line = f"{r.status}: {r.src} -> {r.dst}" + (f" ({r.message})" if r.message else "")
        if bar is None:
            click.echo(line)
        else:
            bar.update(1)
            if r.status != "ok" or r.message:
                bar.write(line, file=sys.stderr)
    try:
        yield report
    finally:
        if bar is not None:
            bar.close()


def finish(results, t0: float) -> None:
    """The summary line of a batch; exit code 1 when any file failed."""
    from . import batch
    click.echo(batch.summary(results, time.perf_counter() - t0))
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def _show_version(ctx: click.Context, _param, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from .installed import report
        click.echo(report())
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version, the installed models and the versions of Python, the "
                   "platform, torch, numpy, Pillow, constriction and click (for a bug report), "
                   "and exit.")
def main():
    """aecodec - a learned image codec."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_batch_options
@target_options
@click.option("--tile-size", type=click.IntRange(0, 65472), default=1024, show_default=True,
              help="Code images larger than this in independent tiles of this side (a "
                   "multiple of 64); 0 never tiles. Tiles bound memory and speed up --crop.")
@metadata_option
@_device_option
@click.option("-f", "--force", is_flag=True, help="Overwrite DST if it exists.")
@_limit_options
def compress(paths: tuple[Path, ...], output_dir: Path | None, jobs: int | None, quality: float,
             bpp: float | None, size: int | None, effort: int, tile_size: int, metadata: str,
             device: str, force: bool, max_pixels: int | None, max_dimension: int | None,
             no_limits: bool):
    """Compress image SRC (PNG, JPEG, ... any Pillow format) into DST (.aec).

    \b
    aecodec compress SRC [DST]          one file (DST: SRC with .aec)
    aecodec compress - - < in.png > out.aec       - is standard input / output
    aecodec compress A B DIR/ 'x/*.jpg' -o OUT    many files, folders or globs into OUT/
    """
    if tile_size % 64:
        raise click.BadParameter(f"{tile_size} is not a multiple of 64", param_hint="--tile-size")
    limits = {**_limits(max_pixels, max_dimension, no_limits), "tile_size": tile_size,
              "device": device}
    if bpp is not None and size is not None:
        raise click.UsageError("give at most one of --bpp and --size")
    targets: dict[str, Any] = {"quality": quality, "bpp": bpp, "size": size, "effort": effort,
                               "metadata": metadata}
    if output_dir is not None:
        return _batch("compress", paths, output_dir, jobs, force, targets, limits)
    src, dst = _single(paths, ".aec")

    def job():
        inputs = () if _stdio(src) else (src,)
        out = _output_stream(dst, force, inputs)
        from PIL import Image

        from .codec import Codec
        codec = Codec(**limits)
        pillow_limit = Image.MAX_IMAGE_PIXELS
        if limits["max_pixels"] is None or limits["max_pixels"] > (pillow_limit or 0):
            Image.MAX_IMAGE_PIXELS = limits["max_pixels"]  # ours decide: Pillow's would refuse first
        try:
            image = codec.open_image(sys.stdin.buffer if _stdio(src) else src)
        finally:
            Image.MAX_IMAGE_PIXELS = pillow_limit
        data = codec.compress(image, **targets)
        quality_used = container.read_header(data)[0].quality
        if out is None:
            write_atomic(dst, lambda tmp: Path(tmp).write_bytes(data), force, inputs)
        else:
            out.write(data)
            out.flush()
        pixels = image.width * image.height
        click.echo(f"{_shown(src, dst)}: {image.width}x{image.height} {image.mode}, quality {quality_used:g}, "
                   f"{len(data)} bytes, {8 * len(data) / pixels:.4f} bpp", err=out is not None)
    _run(job)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_batch_options
@click.option("--format", "out_format", default="png", show_default=True,
              help="Image format of the outputs in batch mode, or of DST when it is left out "
                   "(an extension: png, jpg, ...).")
@click.option("--crop", callback=_parse_crop, default=None, metavar="X,Y,W,H",
              help="Decode only this rectangle (pixels); only the tiles it needs are decoded.")
@_device_option
@click.option("-f", "--force", is_flag=True, help="Overwrite DST if it exists.")
@_limit_options
def decompress(paths: tuple[Path, ...], output_dir: Path | None, jobs: int | None, out_format: str,
               crop: tuple[int, int, int, int] | None, device: str, force: bool,
               max_pixels: int | None, max_dimension: int | None, no_limits: bool):
    """Decompress SRC (.aec) into image DST; the format follows DST's extension (default PNG).

    \b
    aecodec decompress SRC [DST]                    one file (DST: SRC with .png, or --format)
    aecodec decompress - - < in.aec > out.png       - is standard input / output (--format)
    aecodec decompress SRC DST --crop X,Y,W,H       one region of it
    aecodec decompress A.aec DIR/ 'x/*.aec' -o OUT   many files into OUT/ (--format png)
    """
    limits = {**_limits(max_pixels, max_dimension, no_limits), "device": device}
    if output_dir is not None:
        if crop is not None:
            raise click.UsageError("--crop decodes one file: give SRC DST, not -o/--output-dir")
        suffix = "." + out_format.lower().lstrip(".")
        return _batch("decompress", paths, output_dir, jobs, force, _format_for(Path("x" + suffix)),
                      limits, suffix)
    src, dst = _single(paths, "." + out_format.lower().lstrip("."))

    def job():
        inputs = () if _stdio(src) else (src,)
        out = _output_stream(dst, force, inputs)
        if out is not None:
            fmt = _format_for(Path("x." + out_format.lower().lstrip(".")))
        else:
            fmt = _format_for(dst) if dst.suffix else "PNG"
        from .codec import Codec
        from .metadata import save
        image = Codec(**limits).decompress(sys.stdin.buffer if _stdio(src) else src, region=crop)
        notes: list[str] = []
        if out is None:
            write_atomic(dst, lambda tmp: notes.extend(save(image, tmp, fmt)), force, inputs)
        else:
            encoded = io.BytesIO()  # whole before any byte goes out: a failure writes nothing
            notes = save(image, encoded, fmt)
            out.write(encoded.getvalue())
            out.flush()
        for note in notes:
            click.echo(f"aecodec: warning: {note}", err=True)
        click.echo(f"{_shown(src, dst)}: {image.width}x{image.height} {image.mode}",
                   err=out is not None)
    _run(job)


def _format_for(path: Path) -> str:
    from PIL import Image
    Image.init()
    fmt = Image.EXTENSION.get(path.suffix.lower())
    if fmt is None:
        raise click.ClickException(f"unknown image extension {path.suffix!r} for {path}")
    return fmt


@main.command()
@click.argument("srcs", metavar="SRC...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (for scripts); with several files, one a line.")
def info(srcs: tuple[Path, ...], as_json: bool):
    """Show the header of each SRC (.aec): size, mode, quality, model, stream sizes, metadata,
    bpp. With several files, a bad one is an error line and the others are still shown (exit
    code 1)."""
    def job():
        import json

        from .installed import manifest
        try:  # read once for all the files: which of them decode here
            listed: dict | str = manifest()
        except AecError as exc:  # a malformed weights manifest: the files are still described
            listed = f"no usable weights here ({exc})"
        several = len(srcs) > 1
        failed, shown = False, 0
        for src in srcs:
            try:
                facts = _info_facts(src, listed)
            except AecError as exc:
                if not several:
                    raise  # the command's one error line
                message = str(exc)  # named after its file, as the others are not
                _error_line(message if message.startswith(str(src)) else f"{src}: {message}")
                failed = True
                continue
            if as_json:
                click.echo(json.dumps(facts, indent=None if several else 2))
                continue
            if shown:
                click.echo()
            shown += 1
            for key, value in _info_rows(facts):
                click.echo(f"{key + ':':<16}{value}")
        if failed:
            sys.exit(1)
    _run(job)


def _info_facts(src: Path, listed: dict | str) -> dict:
    """What `aecodec info` shows of a file; `listed`: the installed weights' manifest, or why
    there is none usable."""
    from .installed import why_not_installed
    from .metadata import summary
    from .reading import read_aec_bytes
    data = read_aec_bytes(src)
    f = container.decode_file(data, max_pixels=None, max_dimension=None)
    h = f.header
    if isinstance(listed, str):
        missing: str | None = listed
    else:
        why = why_not_installed(h.model_id, h.weights_hash, listed)
        missing = f"made by {why}" if why else None
    return {"file": str(src), "format_version": "%d.%d" % f.version, "width": h.width,
            "height": h.height, "mode": h.mode, "quality": h.quality,
            "model_id": h.model_id, "weights_hash": h.weights_hash.hex(),
            "decodes_here": missing is None, "missing": missing,
            "coder": container.CODERS.get(h.coder, str(h.coder)), "tiles": len(f.tiles),
            "tile_size": [h.tile_width, h.tile_height], "chunks": f.chunk_sizes,
            "metadata": summary(f.metadata), "postfilter": _postfilter_facts(f.postfilter),
            "bytes": len(data),
            "bpp": round(8 * len(data) / (h.width * h.height), 6)}


def _postfilter_facts(post) -> dict | None:
    if post is None:
        return None
    return {"radius": post.radius, "cross": post.cross, "precision": post.precision,
            "weights": sum(len(w) for w in post.weights), "description": post.describe()}


def _info_rows(facts: dict) -> list[tuple[str, str]]:
    tw, th = facts["tile_size"]
    rows = [("file", facts["file"]), ("format version", facts["format_version"]),
            ("size", f"{facts['width']}x{facts['height']}"), ("mode", facts["mode"]),
            ("quality", f"{facts['quality']:g}"),
            ("model", f"{facts['model_id']} (weights {facts['weights_hash']})"),
            ("decodes here", "yes" if facts["decodes_here"] else f"no: {facts['missing']}"),
            ("coder", facts["coder"]),
            ("tiles", f"{facts['tiles']} of {tw}x{th}" if tw else "1 (untiled)")]
    rows += [(f"chunk {name}", f"{size} bytes") for name, size in facts["chunks"].items()]
    meta = facts["metadata"]
    if "icc_profile" in meta:
        rows.append(("icc profile", f"{meta['icc_profile']['name']}, "
                                    f"{meta['icc_profile']['bytes']} bytes"))
    if "exif" in meta:
        turn = meta["exif"]["orientation"]
        rows.append(("exif", f"{meta['exif']['bytes']} bytes"
                             + (f", orientation {turn}" if turn else "")))
    if "xmp" in meta:
        rows.append(("xmp", f"{meta['xmp']['bytes']} bytes"))
    if facts["postfilter"]:
        rows.append(("post-filter", facts["postfilter"]["description"]))
    return rows + [("total", f"{facts['bytes']} bytes"), ("bpp", f"{facts['bpp']:.4f}")]


@main.command()
@click.argument("image", required=False, type=click.Path(path_type=Path))
@click.option("-q", "--quality", type=click.FloatRange(0, 100), multiple=True,
              help="Quality to try (repeatable; default 25, 50, 75).")
@click.option("-o", "--out-dir", type=click.Path(path_type=Path), default=None,
              help="Keep the .aec and decoded PNG files here.")
def demo(image: Path | None, quality: tuple[float, ...], out_dir: Path | None):
    """Compress and decompress IMAGE (default: the bundled sample) and print size, bpp, PSNR."""
    def job():
        from importlib import resources

        import numpy as np

        from .codec import Codec
        from .reading import load_image
        from .images import open_image
        src = image or resources.files("aecodec") / "samples" / "kodim23.png"
        original = (load_image(src) if image else open_image(src)).convert("RGB")
        codec = Codec()
        w, h = original.size
        click.echo(f"{src}: {w}x{h}, model {codec.model.model_id}")
        for q in quality or (25.0, 50.0, 75.0):
            t0 = time.perf_counter()
            data = codec.compress(original, quality=q)
            t1 = time.perf_counter()
            decoded = codec.decompress(data)
            t2 = time.perf_counter()
            err = np.asarray(decoded, np.float64) - np.asarray(original, np.float64)
            psnr = 10 * np.log10(255**2 / max(float(np.mean(err**2)), 1e-10))
            click.echo(f"quality {q:5.1f}: {len(data):7d} bytes  {8 * len(data) / (w * h):.4f} bpp  "
                       f"PSNR {psnr:.2f} dB  encode {t1 - t0:.2f} s  decode {t2 - t1:.2f} s")
            if out_dir:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"q{q:g}.aec").write_bytes(data)
                decoded.save(out_dir / f"q{q:g}.png")
    _run(job)

# Commands that live in their own modules; imported last because they use this module's helpers.
from .cluster_cli import cluster  # noqa: E402  (Dask; the extra is imported only when run)
from .compare_cli import compare_command  # noqa: E402

main.add_command(cluster)
main.add_command(compare_command)

if __name__ == "__main__":
    main()
