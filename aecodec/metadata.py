"""What a file keeps of an image's metadata (ICC profile, EXIF, XMP), and how it goes back out.

The codec codes pixels; the metadata says how to show them. An ICC profile is what makes a
Display P3 or Adobe RGB photo look right, and EXIF carries the orientation a camera recorded
instead of rotating the pixels. Both are kept by default, byte for byte, in optional chunks of
the file (docs/FORMAT.md); `metadata="color"` keeps only the profile and `"none"` nothing
(EXIF can hold a GPS position and a thumbnail several times the size of the coded image).

Inside aecodec the items are raw bytes under the keys of container.METADATA_CHUNKS; outside,
they use Pillow's own `Image.info` names, so a decoded image saves like any other.
"""
from __future__ import annotations

import io
import warnings
from collections.abc import Mapping

from .container import METADATA_CHUNKS
from .errors import InputError, MetadataWarning, OutputError

POLICIES = {"all": ("icc", "exif", "xmp"), "color": ("icc",), "none": ()}
INFO_KEYS = {"icc": "icc_profile", "exif": "exif", "xmp": "xmp"}
EXIF_PREFIX = b"Exif\x00\x00"  # Pillow's JPEG and PNG readers put it before the TIFF data
# The color space field of an ICC header (bytes 16-19) that fits each coded mode.
_ICC_SPACE = {"RGB": b"RGB ", "RGBA": b"RGB ", "L": b"GRAY", "LA": b"GRAY"}
_ICC_HEADER = 128
# Pillow save() keywords of each output format for icc/exif/xmp; None: the format has no place.
_SAVE_KEYWORDS = {
    "PNG": ("icc_profile", "exif", None),  # XMP goes in an iTXt chunk, see save_options
    "JPEG": ("icc_profile", "exif", "xmp"),
    "WEBP": ("icc_profile", "exif", "xmp"),
    "AVIF": ("icc_profile", "exif", "xmp"),
    "TIFF": ("icc_profile", "exif", None),
}  # any other format (BMP, GIF, PPM, ...): none


def check_policy(policy) -> None:
    if isinstance(policy, Mapping):
        unknown = set(policy) - set(INFO_KEYS.values())
        if unknown:
            raise InputError(f"unknown metadata keys {sorted(unknown)}; expected some of "
                             f"{sorted(INFO_KEYS.values())}")
    elif not isinstance(policy, str) or policy not in POLICIES:
        raise InputError(f"metadata must be one of {', '.join(POLICIES)} or a mapping of "
                         f"{', '.join(INFO_KEYS.values())}, got {policy!r}")


def collect(info: Mapping, coded_mode: str, policy) -> dict[str, bytes]:
    """The raw items to store for an image coded as `coded_mode` whose Pillow `info` is given.
    `policy`: "all", "color", "none", or a mapping with Pillow's keys that replaces `info`
    (the Pillow plugin's save(icc_profile=..., exif=..., xmp=...))."""
    check_policy(policy)
    if isinstance(policy, Mapping):
        info, keep = policy, tuple(INFO_KEYS)
    else:
        keep = POLICIES[policy]
    out = {}
    for key in keep:
        value = info.get(INFO_KEYS[key])
        raw = b"" if value is None else _as_bytes(key, value)
        if not raw:
            continue
        if key == "icc":
            raw = _matching_profile(raw, coded_mode)
        elif key == "exif" and raw.startswith(EXIF_PREFIX):
            raw = raw[len(EXIF_PREFIX):]
        if raw:
            out[key] = raw
    return out


def replaced(info: Mapping, policy, given: Mapping) -> dict:
    """The items `policy` keeps of `info` (or a mapping policy's own), with `given` (Pillow
    names) put in their place: Pillow's convention that save(icc_profile=..., exif=...)
    overrides the image's own."""
    check_policy(policy)
    kept = dict(policy) if isinstance(policy, Mapping) else \
        {INFO_KEYS[key]: info.get(INFO_KEYS[key]) for key in POLICIES[policy]}
    return {**kept, **given}


def _as_bytes(key: str, value) -> bytes:
    if key == "exif" and hasattr(value, "tobytes"):  # a PIL.Image.Exif
        return value.tobytes()
    if key == "xmp" and isinstance(value, str):  # PNG's iTXt arrives as text
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InputError(f"{INFO_KEYS[key]} must be bytes, got {type(value).__name__}")


def _matching_profile(icc: bytes, coded_mode: str) -> bytes:
    """`icc` if it describes the pixels aecodec codes, else b"" with a warning. A CMYK or Lab
    profile stops applying once Pillow has converted the pixels to RGB; keeping it would make
    every color-managed viewer misread them."""
    space = icc[16:20] if len(icc) >= _ICC_HEADER else b""
    if space == _ICC_SPACE[coded_mode]:
        return icc
    what = f"a {space.decode('ascii', 'replace').strip()} profile" if space else \
        f"not an ICC profile ({len(icc)} bytes)"
    warnings.warn(f"the image's ICC profile was dropped: it is {what}, and the pixels are coded "
                  f"as {coded_mode}", MetadataWarning, stacklevel=6)
    return b""


def to_info(items: Mapping[str, bytes]) -> dict:
    """Pillow `Image.info` entries for the raw items of a file."""
    info = {INFO_KEYS[key]: raw for key, raw in items.items() if key in INFO_KEYS}
    if "exif" in info:
        info["exif"] = EXIF_PREFIX + info["exif"]
    return info


def save_options(fmt: str, info: Mapping) -> tuple[dict, list[str]]:
    """(Pillow save() keywords that write the metadata in `info` into format `fmt`, the
    Pillow names of the items `fmt` has no place for)."""
    keywords = _SAVE_KEYWORDS.get(fmt.upper(), (None, None, None))
    options, dropped = {}, []
    for key, keyword in zip(METADATA_CHUNKS, keywords):
        name = INFO_KEYS[key]
        value = info.get(name)
        if not value:
            continue
        if keyword is not None:
            options[keyword] = value
        elif key == "xmp" and fmt.upper() == "PNG":
            from PIL import PngImagePlugin
            text = PngImagePlugin.PngInfo()
            text.add_itxt("XML:com.adobe.xmp", value.decode("utf-8", "replace"))
            options["pnginfo"] = text
        else:
            dropped.append(name)
    return options, dropped


def save(image, target, fmt: str) -> list[str]:
    """Save a decoded `image` to `target` (a path or file) as `fmt` with the metadata in its
    `info`; returns a note for each item the format cannot hold (empty when all fit)."""
    options, dropped = save_options(fmt, image.info)
    try:
        image.save(target, format=fmt, **options)
    except OSError as exc:  # Pillow's refusal of a mode, e.g. RGBA as JPEG (no alpha channel)
        if not str(exc).startswith("cannot write mode"):
            raise
        raise OutputError(f"{fmt} cannot hold a mode {image.mode} image: write it as PNG, "
                          "WebP or TIFF, which can") from None
    return [f"{fmt} has no place for the {name.replace('_', ' ')}; it was left out"
            for name in dropped]


def summary(items: Mapping[str, bytes]) -> dict:
    """What `aecodec info` shows of a file's metadata, by Pillow name: size in bytes, the
    profile's name, the EXIF orientation."""
    out = {}
    if "icc" in items:
        out["icc_profile"] = {"bytes": len(items["icc"]), "name": _profile_name(items["icc"])}
    if "exif" in items:
        out["exif"] = {"bytes": len(items["exif"]), "orientation": _orientation(items["exif"])}
    if "xmp" in items:
        out["xmp"] = {"bytes": len(items["xmp"])}
    return out


def _profile_name(icc: bytes) -> str:
    try:
        from PIL import ImageCms
        name = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.profile_description
    except Exception:  # no littlecms, or a profile it cannot parse: still a valid file
        return "unnamed"
    return (name or "unnamed").strip()


def _orientation(exif: bytes) -> int | None:
    from PIL import Image
    try:
        tags = Image.Exif()
        tags.load(EXIF_PREFIX + exif)
        return tags.get(0x0112)
    except Exception:  # EXIF is opaque to the codec: a damaged block is shown, not judged
        return None
