"""What the codec accepts as an image, and how each mode maps to the planes it codes.

The network codes 8-bit RGB. Grayscale is coded as RGB with equal channels and comes back
as grayscale; alpha is kept losslessly in its own chunk (never dropped silently). 16-bit
images are scaled to 8 bits (0..65535 onto 0..255, rounded), with an InputWarning: a lossy
8-bit codec loses far more than that, and Pillow's own conversion would clip instead of
scale. 32-bit integer and float images, whose range is anyone's guess, are refused with a
clear error instead of being quietly converted.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError, features

from .errors import FormatError, InputError, InputWarning
from .tiling import Box

# Pillow modes converted losslessly (or by Pillow's standard rule) to a coded mode.
_CONVERT = {"1": "L", "P": None, "PA": "RGBA", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB",
            "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}
_REFUSE = {"I": "32-bit integer", "F": "32-bit float"}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}


def pillow_has(feature: str) -> bool:
    """Whether this Pillow can code `feature` ("jpg", "webp", "avif", ...), quietly: Pillow
    before 11.3 warns that it has never heard of AVIF."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(features.check(feature))


def open_image(image) -> Image.Image:
    """A PIL image from a PIL image, a numpy uint8 array (HxW, HxWx1/2/3/4) or a path."""
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if path.is_dir():
            raise InputError(f"{path} is a directory, not an image")
        try:
            with Image.open(path) as im:
                im.load()
                return im
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except UnidentifiedImageError:
            raise InputError(f"{path}: not an image Pillow can read") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"{path}: cannot read image ({exc})") from None
    raise InputError(f"expected a PIL image, a numpy uint8 array or a path, got {type(image).__name__}")


def warn_if_animated(img: Image.Image, name: str = "the image") -> None:
    """An InputWarning when `img` has more frames than the first, which alone is coded.
    Call it while the file is open and before loading: counting frames may seek through the
    file (Pillow seeks back to the frame it was on)."""
    try:
        frames = getattr(img, "n_frames", 1)
    except Exception:  # a closed or damaged file: counting is a courtesy, decoding decides
        return
    if isinstance(frames, int) and frames > 1:
        warnings.warn(f"{name} has {frames} frames; only the first is coded", InputWarning,
                      stacklevel=3)


def to_8_bits(a: np.ndarray, what: str) -> np.ndarray:
    """16-bit samples scaled to 8 bits (65535 -> 255, rounded to nearest), with a warning."""
    warnings.warn(f"{what} reduced to 8 bits per channel (aecodec codes 8)", InputWarning,
                  stacklevel=4)
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _from_array(a: np.ndarray) -> Image.Image:
    if a.dtype == np.uint16:
        a = to_8_bits(a, "16-bit array")
    if a.dtype != np.uint8:
        raise InputError(f"numpy images must be uint8 or uint16, got {a.dtype} (float input is "
                         "not supported: scale to 0..255 and convert to uint8 first)")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    mode: str | None = None
    if a.ndim == 2:
        mode = "L"
    elif a.ndim == 3:
        mode = {2: "LA", 3: "RGB", 4: "RGBA"}.get(a.shape[2])
    if mode is None:
        raise InputError(f"unsupported array shape {a.shape}: expected HxW or HxWx(1|2|3|4)")
    if a.size == 0:
        raise InputError(f"empty image (shape {a.shape})")
    return Image.fromarray(np.ascontiguousarray(a), mode=mode)


def split_planes(img: Image.Image) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(coded mode, RGB uint8 HxWx3, alpha uint8 HxW or None)."""
    if img.width == 0 or img.height == 0:
        raise InputError(f"empty image ({img.width}x{img.height})")
    mode = img.mode
    if mode in _REFUSE:
        raise InputError(f"{_REFUSE[mode]} images (mode {mode}) are not supported: aecodec codes "
                         "8 bits per channel; scale to 0..255 first (Pillow's convert('L') "
                         "clips instead of scaling)")
    if mode in _SIXTEEN_BIT:
        img, mode = Image.fromarray(to_8_bits(np.asarray(img), f"16-bit image (mode {mode})"),
                                    "L"), "L"
    if mode in _CONVERT:
        target = _CONVERT[mode]
        if target is None:  # palette: keep transparency if it has any
            target = "RGBA" if "transparency" in img.info else "RGB"
        img, mode = img.convert(target), target
    if mode not in ("L", "LA", "RGB", "RGBA"):
        raise InputError(f"unsupported image mode {mode!r}")
    a = np.asarray(img)
    if mode in ("L", "LA"):
        gray = a if mode == "L" else a[:, :, 0]
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
    else:
        rgb = a[:, :, :3]
    alpha = a[:, :, -1] if mode in ("LA", "RGBA") else None
    return mode, np.ascontiguousarray(rgb), None if alpha is None else np.ascontiguousarray(alpha)


def merge_planes(mode: str, rgb: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    if mode in ("L", "LA"):
        # Equal channels went in; their mean is the best estimate of the gray value.
        planes = np.rint(rgb.astype(np.float32).mean(axis=2, keepdims=True)).astype(np.uint8)
    else:
        planes = rgb
    if mode in ("LA", "RGBA"):
        if alpha is None:
            raise FormatError(f"a mode {mode} image needs its alpha plane")
        planes = np.concatenate([planes, alpha[:, :, None]], axis=2)
    return Image.fromarray(np.ascontiguousarray(planes[:, :, 0] if mode == "L" else planes),
                           mode=mode)


def padded_window(rgb: np.ndarray, box: Box) -> np.ndarray:
    """Pixels of `box` from the image padded by edge replication (the padding is computed
    on the window only, so the padded image never exists as a whole)."""
    h, w = rgb.shape[:2]
    rows = np.minimum(np.arange(box.y0, box.y1), h - 1)
    cols = np.minimum(np.arange(box.x0, box.x1), w - 1)
    return rgb[rows[:, None], cols[None, :]]
