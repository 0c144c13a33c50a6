"""`aecodec cluster compress|decompress`: the batch command on a Dask cluster (aecodec.cluster).

    aecodec cluster compress /shared/photos -o /shared/aec --scheduler tcp://scheduler:8786
    aecodec cluster decompress '/shared/aec/*.aec' -o /shared/back --local 2

aecodec.cli adds the group to `aecodec` in its last lines; importing this module does not import
dask: the `dask` extra is needed only when a command runs.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import click


@click.group()
def cluster():
    """Compress or decompress many files on a Dask cluster (needs "aecodec[dask]").

    \b
    aecodec cluster compress DIR/ 'x/*.jpg' -o OUT --scheduler tcp://host:8786
    aecodec cluster decompress 'OUT/*.aec' -o BACK --local 4

    INPUTS are files, folders, glob patterns or file:// URLs on a filesystem that every worker
    sees under the same paths; --files-from reads one path or URL a line (for millions of
    files). Each worker loads the weights once. Bad files are reported and the rest go on;
    the exit code is 1 if any file failed.
    """


# Imported after `cluster` exists: aecodec.cli imports this module in its last line, and this
# order works whichever of the two is imported first (or run with `python -m aecodec.cli`).
from .cli import (_format_for, _limit_options, _limits, _run, finish, metadata_option,  # noqa: E402
                  progress, target_options)  # noqa: E402
from .errors import AecError  # noqa: E402


def _cluster_options(fn):
    fn = click.option("--batch-size", type=click.IntRange(1), default=None,
                      help="Files per Dask task (default: up to 64, ~4 tasks per worker thread).")(fn)
    fn = click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")(fn)
    fn = click.option("--files-from", type=click.File("r"), default=None, metavar="FILE",
                      help="Read more inputs from FILE, one path or file:// URL a line ('-': stdin).")(fn)
    fn = click.option("--local", "local", type=click.IntRange(1), default=None, metavar="N",
                      help="Start a local cluster of N worker processes instead.")(fn)
    fn = click.option("--scheduler", metavar="ADDRESS", envvar="DASK_SCHEDULER_ADDRESS",
                      default=None, help="Dask scheduler, e.g. tcp://scheduler:8786 "
                                         "(default: $DASK_SCHEDULER_ADDRESS).")(fn)
    fn = click.option("-o", "--output-dir", required=True, metavar="DIR", help="Folder (or file:// URL) for the outputs.")(fn)
    fn = click.argument("inputs", nargs=-1)(fn)
    return fn


def _sources(inputs, files_from, extensions) -> list:
    from .batch import expand_sources
    from .cluster import local_path
    items: list = []
    for item in inputs:
        if "://" in item:
            try:
                item = local_path(item)
            except AecError:
                items.append(item)  # not a file:// URL: reported as a failed file
                continue
        items += expand_sources([item], extensions)
    if files_from is not None:
        items += [line.rstrip("\r\n") for line in files_from if line.strip()]
    if not items:
        raise click.ClickException("no input files found")
    return items


@contextmanager
def _client(scheduler: str | None, local: int | None):
    from .cluster import _distributed
    dist = _distributed()
    if scheduler is not None:
        with dist.Client(scheduler) as client:
            yield client
        return
    with dist.LocalCluster(n_workers=local, threads_per_worker=1, processes=True,
                           dashboard_address=None) as local_cluster, dist.Client(local_cluster) as client:
        yield client


def _go(kind: str, inputs, output_dir: str, scheduler, local, files_from, run_kwargs: dict) -> None:
    if (scheduler is None) == (local is None):
        raise click.UsageError("give one of --scheduler ADDRESS (or $DASK_SCHEDULER_ADDRESS) "
                               "and --local N")
    def job():
        from . import batch, cluster as api
        exts = batch.IMAGE_EXTENSIONS if kind == "compress" else batch.AEC_EXTENSIONS
        items = _sources(inputs, files_from, exts)
        with _client(scheduler, local) as client:
            fn = api.compress_paths if kind == "compress" else api.decompress_paths
            t0 = time.perf_counter()
            with progress(len(items)) as report:
                results = fn(items, output_dir, client=client, on_result=report, **run_kwargs)
        finish(results, t0)
    _run(job)


@cluster.command("compress")
@_cluster_options
@target_options
@metadata_option
@click.option("--model", "model_id", default=None, help="Model id of the weights (default: the default).")
@_limit_options
def compress_cmd(inputs, output_dir, scheduler, local, files_from, force, batch_size, quality, bpp,
                 size, effort, metadata, model_id, max_pixels, max_dimension, no_limits):
    """Compress images (PNG, JPEG, ... any Pillow format) into DIR/STEM.aec."""
    if bpp is not None and size is not None:
        raise click.UsageError("give at most one of --bpp and --size")
    _go("compress", inputs, output_dir, scheduler, local, files_from,
        {"quality": quality, "bpp": bpp, "size": size, "effort": effort, "metadata": metadata,
         "model_id": model_id, "force": force,
         "batch_size": batch_size, "limits": _limits(max_pixels, max_dimension, no_limits)})


@cluster.command("decompress")
@_cluster_options
@click.option("--format", "out_format", default="png", show_default=True,
              help="Image format of the outputs (an extension: png, jpg, ...).")
@_limit_options
def decompress_cmd(inputs, output_dir, scheduler, local, files_from, force, batch_size, out_format,
                   max_pixels, max_dimension, no_limits):
    """Decompress .aec files into DIR/STEM.FORMAT (default PNG)."""
    _format_for(Path("x." + out_format.lower().lstrip(".")))  # an unknown format is a usage error
    _go("decompress", inputs, output_dir, scheduler, local, files_from,
        {"format": out_format, "force": force, "batch_size": batch_size,
         "limits": _limits(max_pixels, max_dimension, no_limits)})
