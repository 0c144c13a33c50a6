"""The `aecodec` command: compress, decompress, info.

Errors become one line on stderr and a non-zero exit (1: the input or file is bad,
2: usage). Outputs are written to a temporary file in the target folder and renamed into
place, so an interrupted run never leaves a partial file or truncates an existing one.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from . import container
from .codec import DEFAULT_QUALITY
from .errors import AecError


def _fail(message: str, code: int = 1):
    click.echo(f"aecodec: error: {message}", err=True)
    sys.exit(code)


def write_atomic(path: Path, write, force: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Call write(tmp_path), then rename over `path`; refuse to clobber unless forced."""
    path = Path(path)
    for src in inputs:
        if path.exists() and src.exists() and os.path.samefile(path, src):
            raise click.ClickException(f"refusing to overwrite the input file {src}")
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists (use --force to overwrite)")
    if path.is_dir():
        raise click.ClickException(f"{path} is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _limits(max_pixels: int | None, no_limits: bool) -> dict:
    if no_limits:
        return {"max_pixels": None, "max_dimension": None}
    return {"max_pixels": max_pixels or container.DEFAULT_MAX_PIXELS}


def _run(fn):
    try:
        return fn()
    except AecError as exc:
        _fail(str(exc))
    except click.ClickException as exc:
        _fail(exc.format_message())
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aecodec")
def main():
    """aecodec - a learned image codec."""


@main.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("-q", "--quality", type=click.FloatRange(0, 100), default=DEFAULT_QUALITY,
              show_default=True, help="0 (smallest) .. 100 (best); continuous.")
@click.option("-f", "--force", is_flag=True, help="Overwrite DST if it exists.")
def compress(src: Path, dst: Path, quality: float, force: bool):
    """Compress image SRC (PNG, JPEG, ... any Pillow format) into DST (.aec)."""
    def job():
        from .codec import Codec
        from .images import open_image
        image = open_image(src)
        data = Codec().compress(image, quality=quality)
        write_atomic(dst, lambda tmp: Path(tmp).write_bytes(data), force, (src,))
        pixels = image.width * image.height
        click.echo(f"{src} -> {dst}: {image.width}x{image.height} {image.mode}, quality {quality:g}, "
                   f"{len(data)} bytes, {8 * len(data) / pixels:.4f} bpp")
    _run(job)


@main.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("-f", "--force", is_flag=True, help="Overwrite DST if it exists.")
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help=f"Refuse larger images (default {container.DEFAULT_MAX_PIXELS}).")
@click.option("--no-limits", is_flag=True, help="Lift the pixel and dimension limits.")
def decompress(src: Path, dst: Path, force: bool, max_pixels: int | None, no_limits: bool):
    """Decompress SRC (.aec) into image DST; the format follows DST's extension (default PNG)."""
    def job():
        from .codec import Codec
        image = Codec(**_limits(max_pixels, no_limits)).decompress(src)
        fmt = None if dst.suffix else "PNG"
        write_atomic(dst, lambda tmp: image.save(tmp, format=fmt or _format_for(dst)), force, (src,))
        click.echo(f"{src} -> {dst}: {image.width}x{image.height} {image.mode}")
    _run(job)


def _format_for(path: Path) -> str:
    from PIL import Image
    Image.init()
    fmt = Image.EXTENSION.get(path.suffix.lower())
    if fmt is None:
        raise click.ClickException(f"unknown image extension {path.suffix!r} for {path}")
    return fmt


@main.command()
@click.argument("src", type=click.Path(path_type=Path))
def info(src: Path):
    """Show the header of SRC (.aec): size, mode, quality, model, stream sizes, bpp."""
    def job():
        from .codec import _read_bytes
        data = _read_bytes(src)
        f = container.decode_file(data, max_pixels=None, max_dimension=None)
        h = f.header
        rows = [("file", str(src)), ("format version", "%d.%d" % f.version),
                ("size", f"{h.width}x{h.height}"), ("mode", h.mode), ("quality", f"{h.quality:g}"),
                ("model", f"{h.model_id} (weights {h.weights_hash.hex()})"),
                ("coder", container.CODERS.get(h.coder, str(h.coder)))]
        rows += [(f"chunk {name}", f"{size} bytes") for name, size in f.chunk_sizes.items()]
        rows += [("total", f"{len(data)} bytes"),
                 ("bpp", f"{8 * len(data) / (h.width * h.height):.4f}")]
        for key, value in rows:
            click.echo(f"{key + ':':<16}{value}")
    _run(job)


@main.command()
@click.argument("image", required=False, type=click.Path(path_type=Path))
@click.option("-q", "--quality", type=click.FloatRange(0, 100), multiple=True,
              help="Quality to try (repeatable; default 25, 50, 75).")
@click.option("-o", "--out-dir", type=click.Path(path_type=Path), default=None,
              help="Keep the .aec and decoded PNG files here.")
def demo(image: Path | None, quality: tuple[float, ...], out_dir: Path | None):
    """Compress and decompress IMAGE (default: the bundled sample) and print size, bpp, PSNR."""
    def job():
        import time
        from importlib import resources

        import numpy as np

        from .codec import Codec
        from .images import open_image
        src = image or resources.files("aecodec") / "samples" / "kodim23.png"
        original = open_image(src).convert("RGB")
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
            psnr = 10 * np.log10(255**2 / max(np.mean(err**2), 1e-10))
            click.echo(f"quality {q:5.1f}: {len(data):7d} bytes  {8 * len(data) / (w * h):.4f} bpp  "
                       f"PSNR {psnr:.2f} dB  encode {t1 - t0:.2f} s  decode {t2 - t1:.2f} s")
            if out_dir:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"q{q:g}.aec").write_bytes(data)
                decoded.save(out_dir / f"q{q:g}.png")
    _run(job)


if __name__ == "__main__":
    main()
