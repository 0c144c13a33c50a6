"""One small class per codec: name, qualities, encode(img) -> bytes, decode(bytes) -> array.

Every conventional codec goes through Pillow, so the library versions recorded in results.json
are exactly what ran. A codec this machine's Pillow lacks reports why in `unavailable()` and is
skipped by the runner instead of failing it.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from aecodec.images import pillow_has


def _pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


class Codec:
    name = ""
    label = ""
    settings = ""
    qualities: list = []
    quick_qualities: list = []

    def unavailable(self) -> str | None:
        """None when usable here, otherwise a one-line reason (shown in results.md)."""
        return None

    def encode(self, img: Image.Image, q) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        return _pillow_decode(data)


class _PillowCodec(Codec):
    fmt = ""
    feature = ""

    def options(self, q) -> dict:
        raise NotImplementedError

    def unavailable(self):
        if not pillow_has(self.feature):
            return f"Pillow {Image.__version__} on this machine was built without {self.feature}"
        return None

    def encode(self, img, q):
        buf = io.BytesIO()
        img.save(buf, format=self.fmt, **self.options(q))
        return buf.getvalue()


class JPEG(_PillowCodec):
    fmt, feature = "JPEG", "jpg"
    qualities = [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    quick_qualities = [20, 50, 80]

    def __init__(self, subsampling: str = "4:2:0"):
        self.subsampling = subsampling
        self.name = "jpeg" + subsampling.replace(":", "")
        self.label = f"JPEG {subsampling}"
        self.settings = f"libjpeg-turbo via Pillow, quality=q, subsampling={subsampling}, optimize=True"

    def options(self, q):
        # optimize=True (Huffman tables fitted to the image) is what a careful user would set.
        return dict(quality=q, subsampling=self.subsampling, optimize=True)


class WebP(_PillowCodec):
    fmt, feature = "WEBP", "webp"
    name, label = "webp", "WebP"
    settings = "libwebp via Pillow, lossy, quality=q, method=6 (slowest, best)"
    qualities = [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    quick_qualities = [20, 50, 80]

    def options(self, q):
        return dict(quality=q, method=6, lossless=False)


class JPEG2000(_PillowCodec):
    """Quality is the target compression ratio (24 bpp / ratio); larger = fewer bits."""

    fmt, feature = "JPEG2000", "jpg_2000"
    name, label = "jpeg2000", "JPEG 2000"
    settings = ("OpenJPEG via Pillow, .jp2 file, irreversible 9/7 wavelet, mct=1, "
                "quality_mode='rates', one layer at the target ratio q")
    qualities = [240, 160, 120, 96, 64, 48, 32, 24, 16, 12, 8]
    quick_qualities = [96, 48, 16]

    def options(self, q):
        # irreversible + mct=1 is OpenJPEG's lossy mode (the reversible 5/3 wavelet costs bits).
        return dict(quality_mode="rates", quality_layers=[q], irreversible=True, mct=1)


class AVIF(_PillowCodec):
    fmt, feature = "AVIF", "avif"
    qualities = [10, 20, 30, 40, 50, 60, 70, 80, 90]
    quick_qualities = [30, 50, 70]
    speed = 4  # libavif 0 (slowest) .. 10; 4 is a common quality-leaning choice, slower than the default 6

    def __init__(self, subsampling: str = "4:4:4", threads: int = 1):
        self.subsampling, self.threads = subsampling, threads
        self.name = "avif" + subsampling.replace(":", "")
        self.label = f"AVIF {subsampling}"
        self.settings = (f"libavif via Pillow's AVIF plugin, quality=q, subsampling={subsampling}, "
                         f"speed={self.speed}, max_threads={threads}")

    def options(self, q):
        return dict(quality=q, subsampling=self.subsampling, speed=self.speed,
                    max_threads=self.threads)


class AECodec(Codec):
    """aecodec through its public API only; imported lazily so the suite runs without it."""

    name, label = "aecodec", "aecodec"
    settings = "aecodec.Codec() (weights loaded once), quality=q, whole .aec file counted"
    qualities = [0, 10, 25, 40, 55, 70, 85, 100]
    quick_qualities = [10, 55, 100]

    def __init__(self, model_id: str | None = None, effort: int = 0, **options):
        # model_id: a shipped model other than the default, run as codec "aecodec-<model id>";
        # effort: the encoder's effort (aecodec.efforts), run as codec "aecodec-effort<N>"
        self.name, self.label = aecodec_row(model_id, effort)
        if model_id:
            self.settings = self.settings.replace("aecodec.Codec()", f"aecodec.Codec({model_id!r})")
        if effort:
            self.settings = self.settings.replace("quality=q", f"quality=q, effort={effort}")
        self.effort = effort
        self._options = {"model_id": model_id, **options}  # e.g. limits or tile_size
        self._codec = None
        self._why = None

    def unavailable(self):
        if self._codec is None and self._why is None:
            try:
                import aecodec
                self._codec = aecodec.Codec(**self._options)  # raises if weights are missing
                self.settings += (f" (aecodec {getattr(aecodec, '__version__', '?')}, weights "
                                  f"{self._codec.model.model_id} "
                                  f"sha256 {self._codec.model.sha256[:16]})")
            except Exception as e:  # any failure to load is a skip, not a crash of the run
                self._why = f"aecodec not usable: {type(e).__name__}: {e}"
        return self._why

    @property
    def model_id(self) -> str | None:
        """The model that was measured (known once the codec loaded, i.e. after unavailable())."""
        return self._codec.model.model_id if self._codec is not None else None

    def encode(self, img, q):
        return self._codec.compress(img, quality=q, effort=self.effort)

    def decode(self, data):
        return np.asarray(self._codec.decompress(data).convert("RGB"))


def aecodec_row(model_id: str | None = None, effort: int = 0) -> tuple[str, str]:
    """The name and label of aecodec's row: "aecodec[-<model id>][-effort<N>]"."""
    name, label = "aecodec", "aecodec"
    if model_id:
        name, label = f"{name}-{model_id}", f"{label} {model_id}"
    if effort:
        name, label = f"{name}-effort{effort}", f"{label} effort {effort}"
    return name, label


def default_model_effort(name: str) -> int | None:
    """The effort of a row that measures the default model ("aecodec", "aecodec-effort<N>"),
    None for any other row."""
    if name == "aecodec":
        return 0
    effort = name.removeprefix("aecodec-effort")
    return int(effort) if effort != name and effort.isdigit() else None


def _named_aecodec(name: str) -> AECodec:
    """"aecodec-effort<N>" or "aecodec-<model id>" as the codec it names."""
    effort = default_model_effort(name)
    if effort is not None:
        return AECodec(effort=effort)
    return AECodec(name.removeprefix("aecodec-"))


def all_codecs(threads: int = 1, names=()) -> list[Codec]:
    """JPEG 4:2:0 first: it is the BD-rate reference. `names` may add shipped aecodec models
    other than the default, as "aecodec-<model id>", and the default model at an encoder
    effort above 0, as "aecodec-effort<N>"."""
    extra = [_named_aecodec(n) for n in names if n.startswith("aecodec-")]
    return [JPEG("4:2:0"), JPEG("4:4:4"), WebP(), JPEG2000(),
            AVIF("4:4:4", threads), AVIF("4:2:0", threads), AECodec(), *extra]


def by_name(name: str, threads: int = 1) -> Codec:
    for c in all_codecs(threads, names=[name]):
        if c.name == name:
            return c
    raise KeyError(f"unknown codec {name!r}")
