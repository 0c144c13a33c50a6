"""Safe output files: never partial, never clobbered by accident, never the input.

A file is written to `.NAME.XXXXXXXX.part` beside its destination, flushed to disk and then
renamed (or, without --force, hard-linked: an atomic "create if absent") into place. Any
failure, Ctrl-C or SIGTERM removes the temporary file; only SIGKILL or a power cut can leave
one, and never under the final name. See docs/ROBUSTNESS.md.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .errors import OutputError

PART_SUFFIX = ".part"


def check_output(path: Path, force: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse an output that is an input, a directory, or exists (unless forced)."""
    path = Path(path)
    for src in inputs:
        if path.exists() and src.exists() and os.path.samefile(path, src):
            raise OutputError(f"refusing to overwrite the input file {src}")
    if path.is_dir():
        raise OutputError(f"{path} is a directory")
    if path.exists() and not force:
        raise OutputError(f"{path} exists (use --force to overwrite)")
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent}: no such directory")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync(path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY if directory else os.O_RDWR)
    except OSError:
        if directory:
            return  # not every platform opens folders; the data itself was synced
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def write_atomic(path: Path, write, force: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Call write(tmp_path), then move the finished file to `path`; refuse to clobber unless
    forced, and never overwrite an input. The temporary file `.NAME.*.part` sits next to `path`
    (same filesystem, so the final rename is atomic) and is removed on any failure, Ctrl-C or
    SIGTERM. Without `force`, the file is linked into place, which fails if `path` appeared
    in the meantime (no race with another writer)."""
    path = Path(path)
    check_output(path, force, inputs)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PART_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        _fsync(tmp)  # the data is on disk before the name points at it
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic "create if absent"
            except FileExistsError:
                raise OutputError(f"{path} exists (use --force to overwrite)") from None
            except OSError as exc:  # no hard links here (FAT, some network filesystems)
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                                     errno.EMLINK, errno.ENOSYS):
                    raise
                check_output(path, force, inputs)
                os.replace(tmp, path)
        _fsync(path.parent, directory=True)
    finally:
        Path(tmp).unlink(missing_ok=True)  # after a link, or a failure; after a replace: gone
