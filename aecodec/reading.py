"""Reading inputs from disk without trusting them: .aec files are read no further than their
header can justify, and image files have their size checked before any pixel is decoded."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from . import container
from .container import DEFAULT_MAX_DIMENSION, DEFAULT_MAX_PIXELS
from .errors import AecError, FormatError, InputError, LimitError
from .images import warn_if_animated

PREFIX_BYTES = 4096  # read first, to reject a non-.aec file (or /dev/zero) at once
SLACK_BYTES = 64 << 20  # room for optional chunks in the largest file a header can justify


def read_aec_bytes(data, max_bytes=None) -> bytes:
    """The bytes of `data` (bytes or a path). For a path, the signature is checked on the first
    bytes, and `max_bytes(prefix)` (if given) caps how much is read: a file is never read
    further than its header can justify (a huge or endless file costs nothing)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, (str, os.PathLike)):
        raise InputError(f"expected bytes or a path to a .aec file, got {type(data).__name__}")
    path = Path(data)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a .aec file")
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(PREFIX_BYTES)
            container.check_preamble(prefix)
            cap = max_bytes(prefix) if max_bytes else None
            rest = fh.read() if cap is None else fh.read(max(cap + 1 - len(prefix), 0))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if cap is not None and len(prefix) + len(rest) > cap:
        raise FormatError(f"{path} is larger than its header can justify (more than {cap} bytes)")
    return prefix + rest


def load_image(path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               max_dimension: int | None = DEFAULT_MAX_DIMENSION) -> Image.Image:
    """Open an image file for encoding. The size limits are checked from the file's header
    before any pixel is decoded; anything Pillow cannot decode becomes an InputError, and
    Pillow's own decompression-bomb refusal a LimitError."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an image")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path} is empty, not an image")
    try:
        with warnings.catch_warnings():
            # Pillow warns above its MAX_IMAGE_PIXELS: our own limits decide, or were lifted
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                container.check_size(im.width, im.height, max_pixels, max_dimension)
                warn_if_animated(im, str(path))  # before load: counting frames seeks, back to 0
                im.load()
                return im
    except AecError:
        raise
    except Image.DecompressionBombError as exc:
        raise LimitError(f"{path}: {exc} (Pillow's own limit, PIL.Image.MAX_IMAGE_PIXELS; "
                         "the command line's --no-limits lifts it too)") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read") from None
    except MemoryError:
        raise LimitError(f"{path}: not enough memory to decode this image") from None
    except Exception as exc:  # Pillow decoding hostile data: OSError, SyntaxError, EOFError, ...
        raise InputError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
