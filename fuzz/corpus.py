"""Seed files for fuzzing: small real .aec files in every mode, made with the installed weights."""
from __future__ import annotations

import copy
from importlib import resources

import numpy as np
from PIL import Image

# (name, mode, crop box in the bundled sample, quality); small so that decoding stays fast,
# with one image of 3x2 z positions so that the streams carry more than one position.
# The 130x70 one carries an ICC profile, EXIF and XMP, so the metadata chunks get fuzzed too;
# the 200x136 one is coded at effort 1 and carries a post-filter (PFLT, format 1.2).
SEEDS = (
    ("rgb-64x48-q50", "RGB", (300, 100, 364, 148), 50.0),
    ("l-72x40-q10", "L", (100, 200, 172, 240), 10.0),
    ("rgba-48x64-q90", "RGBA", (500, 300, 548, 364), 90.0),
    ("la-40x24-q0", "LA", (10, 10, 50, 34), 0.0),
    ("rgb-130x70-q100", "RGB", (400, 380, 530, 450), 100.0),
    ("rgb-200x130-q50-tiled", "RGB", (200, 200, 400, 330), 50.0),
    ("rgb-200x136-q90-filtered", "RGB", (200, 200, 400, 336), 90.0),
)
TILED = {"rgb-200x130-q50-tiled": 64}  # 4x3 tiles of 64 px: a TIDX chunk and 12 stream pairs
WITH_METADATA = "rgb-130x70-q100"
EFFORT = {"rgb-200x136-q90-filtered": 1}


def _metadata() -> dict:
    from PIL import ImageCms
    exif = Image.Exif()
    exif[0x0112] = 6
    return {"icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
            "exif": exif.tobytes(), "xmp": b"<x:xmpmeta/>"}


def sample_image() -> Image.Image:
    with resources.as_file(resources.files("aecodec") / "samples" / "kodim23.png") as path:
        with Image.open(path) as im:
            return im.convert("RGB")


def seed_images() -> list[tuple[str, Image.Image, float]]:
    base = sample_image()
    out = []
    for name, mode, box, quality in SEEDS:
        img = base.crop(box)
        if mode in ("L", "LA"):
            img = img.convert("L")
        if mode in ("RGBA", "LA"):
            w, h = img.size
            alpha = (np.add.outer(np.arange(h), np.arange(w)) * 7 % 256).astype(np.uint8)
            alpha[: h // 3] = 255  # a flat band and a ramp: typical alpha
            img = img.copy()
            img.putalpha(Image.fromarray(alpha, "L"))
        out.append((name, img, quality))
    return out


def build(codec=None) -> list[tuple[str, bytes]]:
    """[(name, .aec bytes)] for every seed, encoded by `codec` (default: the default model)."""
    if codec is None:
        import aecodec
        codec = aecodec.Codec()
    out = []
    for name, img, q in seed_images():
        c = codec
        if name in TILED:
            c = copy.copy(codec)
            c.tile_size = TILED[name]
        metadata = _metadata() if name == WITH_METADATA else "all"
        out.append((name, c.compress(img, quality=q, metadata=metadata,
                                     effort=EFFORT.get(name, 0))))
    return out
