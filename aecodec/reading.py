"""Reading inputs from disk without trusting them: .aec files are read no further than their
header can justify, and image files have their size checked before any pixel is decoded."""
from __future__ import annotations

import io
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
    """The bytes of `data` (bytes, a path or a binary file object such as sys.stdin.buffer).
    For a path or a file object, the signature is checked on the first bytes, and
    `max_bytes(prefix)` (if given) caps how much is read: a file is never read further than
    its header can justify (a huge or endless file costs nothing)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if hasattr(data, "read"):
        return _read_capped(data, getattr(data, "name", "<stream>"), max_bytes)
    if not isinstance(data, (str, os.PathLike)):
        raise InputError(f"expected bytes, a path or a binary file with a .aec file, got "
                         f"{type(data).__name__}")
    path = Path(data)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a .aec file")
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        return _read_capped(fh, path, max_bytes)


def _read_capped(fh, name, max_bytes) -> bytes:
    try:
        prefix = fh.read(PREFIX_BYTES)
        if not isinstance(prefix, bytes):
            raise InputError(f"{name} is open in text mode; .aec files are read as binary")
        container.check_preamble(prefix)
        cap = max_bytes(prefix) if max_bytes else None
        rest = fh.read() if cap is None else fh.read(max(cap + 1 - len(prefix), 0))
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if cap is not None and len(prefix) + len(rest) > cap:
        raise FormatError(f"{name} is larger than its header can justify (more than {cap} bytes)")
    return prefix + rest


def load_image(path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               max_dimension: int | None = DEFAULT_MAX_DIMENSION) -> Image.Image:
    """Open an image file (a path or a binary file object) for encoding. The size limits are
    checked from the file's header before any pixel is decoded; anything Pillow cannot decode
    becomes an InputError, and Pillow's own decompression-bomb refusal a LimitError."""
    if hasattr(path, "read"):
        name, path = getattr(path, "name", "<stream>"), _seekable(path, max_pixels)
    else:
        name = path = Path(path)
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
                warn_if_animated(im, str(name))  # before load: counting frames seeks, back to 0
                im.load()
                return im
    except AecError:
        raise
    except Image.DecompressionBombError as exc:
        raise LimitError(f"{name}: {exc} (Pillow's own limit, PIL.Image.MAX_IMAGE_PIXELS; "
                         "the command line's --no-limits lifts it too)") from None
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: not an image Pillow can read") from None
    except MemoryError:
        raise LimitError(f"{name}: not enough memory to decode this image") from None
    except Exception as exc:  # Pillow decoding hostile data: OSError, SyntaxError, EOFError, ...
        raise InputError(f"{name}: cannot read image ({type(exc).__name__}: {exc})") from None


def _seekable(fh, max_pixels: int | None):
    """`fh` itself if Pillow can seek in it, else its bytes in memory (a pipe), read no
    further than an image within `max_pixels` could need: 8 bytes per pixel (16-bit RGBA,
    uncompressed) and SLACK_BYTES for metadata."""
    try:
        if fh.seekable():
            return fh
    except (AttributeError, OSError, ValueError):
        pass
    cap = None if max_pixels is None else 8 * max_pixels + SLACK_BYTES
    name = getattr(fh, "name", "<stream>")
    try:
        data = fh.read() if cap is None else fh.read(cap + 1)
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(data, bytes):
        raise InputError(f"{name} is open in text mode; images are read as binary")
    if not data:
        raise InputError(f"{name} is empty, not an image")
    if cap is not None and len(data) > cap:
        raise LimitError(f"{name} holds more than {cap} bytes, more than an image within "
                         f"max_pixels={max_pixels} can need")
    return io.BytesIO(data)
