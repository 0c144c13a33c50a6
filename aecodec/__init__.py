"""aecodec: a learned image codec.

    import aecodec
    data = aecodec.compress("photo.png", quality=50)   # PIL image, uint8 array or path
    img = aecodec.decompress(data)                       # PIL image, original size and mode

`Codec` loads the weights once; reuse it for many images.

torch is imported with `Codec` (on first use of it, of `compress` or of `decompress`), not with
the package: the container, the errors, `aecodec info` and `aecodec --help` do not need it,
and importing it takes seconds.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from .container import Header, read_header
from .efforts import DEFAULT_QUALITY
from .errors import (AecError, AecWarning, CorruptChunkError, DecodeError, FormatError,
                     InputError, InputWarning, LimitError, MetadataWarning, NotAecFileError,
                     TargetWarning, TruncatedFileError, UnknownModelError,
                     UnsupportedVersionError)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from PIL import Image

    from .codec import Codec
    from .inputs import AecInput, ImageInput, MetadataPolicy, Region


def __getattr__(name: str):
    if name == "Codec":
        from .codec import Codec
        return Codec
    raise AttributeError(f"module 'aecodec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "Codec"})


def _default_codec() -> Codec:
    """The Codec of the installed default model, made once per weights folder and default:
    pointing AECODEC_WEIGHTS elsewhere in the same process takes effect."""
    from . import weights
    root = weights.weights_root()
    return _codec_for(str(root), weights.default_model_id(weights.manifest(root)))


@lru_cache(maxsize=1)
def _codec_for(root: str, model_id: str) -> Codec:
    from .codec import Codec
    return Codec(model_id)


def register_pillow() -> None:
    """Teach Pillow to open and save .aec files (Image.open, img.save("x.aec", quality=...))."""
    from .pillow_plugin import register
    register()


def compress(image: ImageInput, quality: float = DEFAULT_QUALITY, *, bpp: float | None = None,
             size: int | None = None, effort: int = 0, metadata: MetadataPolicy = "all") -> bytes:
    """Encode an image (PIL image, uint8 array, path or binary file) into .aec bytes. `size`
    (bytes) or `bpp` replaces `quality` with a target: the largest file within `size`, or the
    file closest to `bpp`. `effort` 1-4 trades encode time for smaller files, `metadata`
    ("all", "color", "none") says what of the ICC profile, EXIF and XMP is kept (see
    Codec.compress)."""
    return _default_codec().compress(image, quality=quality, bpp=bpp, size=size, effort=effort,
                                     metadata=metadata)


def decompress(data: AecInput, *, region: Region | None = None) -> Image.Image:
    """Decode .aec bytes (or a path to, or binary file of, a .aec file) into a PIL image;
    `region=(x, y, w, h)` decodes only that rectangle."""
    return _default_codec().decompress(data, region=region)


__all__ = [
    "compress", "decompress", "Codec", "register_pillow", "Header", "read_header", "DEFAULT_QUALITY", "__version__",
    "AecError", "FormatError", "NotAecFileError", "UnsupportedVersionError", "TruncatedFileError",
    "CorruptChunkError", "UnknownModelError", "DecodeError", "LimitError", "InputError",
    "AecWarning", "MetadataWarning", "TargetWarning", "InputWarning",
]
