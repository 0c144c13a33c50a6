"""Pillow support for .aec files, enabled by `aecodec.register_pillow()`.

After registration, `Image.open("x.aec")` reads only the header and the metadata (size, mode,
`info["icc_profile"]`, `info["exif"]`, `info["xmp"]`; the streams are skipped, not decoded),
`.load()` decodes through aecodec, and `img.save("x.aec", quality=..., effort=...)` encodes
(or with a target instead of a quality: `size=` bytes, the largest file within it, or `bpp=`).
Saving keeps the image's own metadata, as Codec.compress does, unless the call says otherwise
in Pillow's way (`icc_profile=`, `exif=`, `xmp=`) or with `metadata="color"` / `"none"`.
Registration is explicit (the pillow-heif convention): importing aecodec alone changes nothing.
"""
from __future__ import annotations

from PIL import Image, ImageFile

from . import container
from .efforts import DEFAULT_QUALITY
from .errors import AecError
from .metadata import INFO_KEYS, replaced, to_info

FORMAT = "AEC"
MIME = "image/x-aec"
_HEADER_BYTES = 111  # always covers signature + version + a 1.x HEAD chunk (docs/FORMAT.md)


def _accept(prefix: bytes) -> bool:
    return container.looks_like_aec(prefix)


class AecImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "aecodec learned image"

    def _open(self) -> None:
        assert self.fp is not None  # Pillow opens the file before asking the plugin
        try:
            header, version = container.read_header(self.fp.read(_HEADER_BYTES), max_pixels=None,
                                                    max_dimension=None)
            metadata = container.scan_metadata(self.fp)
        except AecError as exc:
            raise SyntaxError(f"not a valid .aec file: {exc}") from None
        self._size = (header.width, header.height)
        self._mode = header.mode
        self.info.update(quality=header.quality, model_id=header.model_id,
                         aec_version="%d.%d" % version, **to_info(metadata))
        self.tile = [ImageFile._Tile("aec", (0, 0, header.width, header.height), 0, None)]


class AecDecoder(ImageFile.PyDecoder):
    _pulls_fd = True

    def decode(self, buffer):
        from . import _default_codec
        assert self.fd is not None
        self.fd.seek(0)
        try:
            image = _default_codec().decompress(self.fd.read())
        except AecError as exc:
            raise OSError(f"cannot decode .aec file: {exc}") from exc
        self.set_as_raw(image.tobytes())
        return -1, 0


def _save(im: Image.Image, fp, filename) -> None:
    from . import _default_codec
    options = im.encoderinfo
    quality = options.get("quality", DEFAULT_QUALITY)
    effort = options.get("effort", 0)
    metadata = options.get("metadata", "all")
    given = {name: options[name] for name in INFO_KEYS.values() if name in options}
    if given:
        metadata = replaced(im.info, metadata, given)
    fp.write(_default_codec().compress(im, quality=quality, bpp=options.get("bpp"),
                                       size=options.get("size"), effort=effort, metadata=metadata))


def register() -> None:
    Image.register_open(FORMAT, AecImageFile, _accept)
    Image.register_decoder("aec", AecDecoder)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, ".aec")
    Image.register_mime(FORMAT, MIME)
