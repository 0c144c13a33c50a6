"""What the public API accepts, as type aliases for annotations. The package ships `py.typed`
(PEP 561), so a type checker in an embedding project checks its calls against these; at run
time each function still checks what it gets and raises InputError with the reason."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, TypeAlias, Union

import numpy as np
from PIL import Image

# A PIL image, a uint8 array (HxW, HxWx1..4), a path or a binary file of an image Pillow reads.
ImageInput: TypeAlias = Union[Image.Image, np.ndarray, str, os.PathLike[str], IO[bytes]]
# The bytes of a .aec file, a path to one, or a binary file (sys.stdin.buffer, an open file).
AecInput: TypeAlias = Union[bytes, bytearray, memoryview, str, os.PathLike[str], IO[bytes]]
# x, y, width, height in pixels.
Region: TypeAlias = tuple[int, int, int, int]
# "all", "color", "none", or Pillow's info keys (icc_profile, exif, xmp) with the items to store.
MetadataPolicy: TypeAlias = Union[str, Mapping[str, Union[bytes, str, None]]]
