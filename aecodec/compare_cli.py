"""`aecodec compare`, the command: options, output checks and the lines it prints
(aecodec.compare does the work, aecodec.compare_render draws the result)."""
from __future__ import annotations

from pathlib import Path

import click

from .compare import compare, describe
from .efforts import MAX_EFFORT
from .errors import InputError
from .units import parse_box, parse_size


def _click_size(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_size(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


def _click_zoom(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_box(value, "zoom")
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("compare")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--size", type=str, default=None, callback=_click_size,
              help="Target file size: 20000, 20KB (KB = 1000 bytes), 1.5MB, 64KiB (= 1024).")
@click.option("--bpp", type=click.FloatRange(0, min_open=True), default=None,
              help="Target bits per pixel of the whole file, instead of --size.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The PNG to write (default: IMAGE's name + '.compare.png', in this folder).")
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write a self-contained HTML page (images inline, table of numbers).")
@click.option("--zoom", type=str, default=None, callback=_click_zoom,
              help="Region to enlarge, x,y,w,h in pixels (default: the most detailed one).")
@click.option("--effort", type=click.IntRange(0, MAX_EFFORT), default=0, show_default=True,
              help="aecodec's encoder effort (see aecodec compress --help).")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
def compare_command(image: Path, size: int | None, bpp: float | None, output: Path | None,
                    html_out: Path | None, zoom, effort: int, force: bool):
    """Show aecodec, JPEG, WebP and AVIF at the same file size, side by side.

    \b
    aecodec compare photo.png --size 20KB            -> photo.compare.png
    aecodec compare photo.png --bpp 0.3 --html p.html --zoom 300,120,96,64

    Every codec gets its largest file not above the target; the PNG shows each decoded image,
    a zoomed crop and its bytes, bpp and PSNR.
    """
    from .cli import _run  # imported here: cli.py imports this module to register the command
    from .output import check_output, write_atomic

    if (size is None) == (bpp is None):
        raise click.UsageError("give exactly one of --size and --bpp")
    png_out = output or Path(f"{image.stem}.compare.png")

    def job():
        if html_out is not None and html_out.resolve() == png_out.resolve():
            raise InputError("the PNG and the HTML output are the same file")
        for out in (png_out,) + ((html_out,) if html_out else ()):
            check_output(out, force, (image,))  # before the work, and again when writing
        result = compare(image, size=size, bpp=bpp, zoom=zoom, effort=effort,
                         on_entry=lambda e: click.echo(describe(e)))
        png = result.render_png()
        write_atomic(png_out, lambda tmp: png.save(tmp, format="PNG", optimize=True), force,
                     (image,))
        click.echo(f"-> {png_out} ({png.width}x{png.height})")
        if html_out is not None:
            page = result.render_html()
            write_atomic(html_out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"), force,
                         (image,))
            click.echo(f"-> {html_out}")
    _run(job)
