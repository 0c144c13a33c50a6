"""Training data: every image decoded once into memory, then random crops with flips.

Decoding JPEGs is the slow part of a naive pipeline and would compete with the model
for the two cores, so it happens once up front; crops are then numpy slicing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def load_folder(folder: str | Path, min_side: int, limit: int | None = None) -> list[np.ndarray]:
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in EXTENSIONS)
    images = []
    for p in paths[:limit]:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("RGB"))
        if min(arr.shape[:2]) >= min_side:
            images.append(arr)
    if not images:
        raise SystemExit(f"no usable images (short side >= {min_side}) under {folder}")
    return images


class CropSampler:
    def __init__(self, images: list[np.ndarray], seed: int = 0):
        self.images = images
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int, crop: int) -> np.ndarray:
        """(size, 3, crop, crop) uint8."""
        out = np.empty((size, 3, crop, crop), dtype=np.uint8)
        for i in range(size):
            img = self.images[self.rng.integers(len(self.images))]
            h, w = img.shape[:2]
            c = min(crop, h, w)
            y0 = self.rng.integers(h - c + 1)
            x0 = self.rng.integers(w - c + 1)
            patch = img[y0:y0 + c, x0:x0 + c]
            if self.rng.random() < 0.5:
                patch = patch[:, ::-1]
            if c < crop:  # tiny image: reflect-pad up to the crop size
                patch = np.pad(patch, ((0, crop - c), (0, crop - c), (0, 0)), mode="reflect")
            out[i] = patch.transpose(2, 0, 1)
        return out
