"""Fitting and applying post-filters (aecodec.postfilter) on pixels, with numpy.

Fitting is least squares from the decoded pixels to the original: the Wiener filter of the
filter's shape. The encoder fits the shapes of SHAPES and keeps the one that lowers the
rate-distortion cost the most, or none. Applying is the decoder's int32 arithmetic, exact on
every machine (the bound checked by PostFilter.check keeps every sum inside int32).
"""
from __future__ import annotations

import numpy as np

from .errors import FormatError
from .postfilter import PostFilter

STRIP_PIXELS = 1 << 16  # pixels per strip of rows: bounds memory on a huge image, fits in cache


def _strips(height: int, width: int):
    """(first row, rows) of the strips an image is processed in."""
    step = max(1, STRIP_PIXELS // width)
    return [(y0, min(step, height - y0)) for y0 in range(0, height, step)]


def apply(pf: PostFilter, padded: np.ndarray) -> np.ndarray:
    """Filter uint8 pixels (h + 2 margin, w + 2 margin, 3) into (h, w, 3): each output is
    the decoded value plus the rounded correction, clipped to 0..255. Strip by strip, in
    int32; exact, so any split into strips or regions gives the same pixels."""
    m = pf.margin
    h, w = padded.shape[0] - 2 * m, padded.shape[1] - 2 * m
    taps, bias = pf.taps()
    per_channel = [[(d, dy, dx, t) for (c, d, dy, dx), t in sorted(taps.items())
                    if c == out_c and t] for out_c in range(3)]
    out = np.empty((h, w, 3), dtype=np.uint8)
    half = 1 << (pf.precision - 1)
    for y0, rows in _strips(h, w):
        # int32 planes of this strip and its margin only: memory stays a few strips
        planes = padded[y0:y0 + rows + 2 * m].transpose(2, 0, 1).astype(np.int32)
        product = np.empty((rows, w), dtype=np.int32)
        for c in range(3):
            acc = np.full((rows, w), bias[c] + half, dtype=np.int32)
            for d, dy, dx, tap in per_channel[c]:
                window = planes[d, m + dy:m + dy + rows, m + dx:m + dx + w]
                np.multiply(window, tap, out=product)
                acc += product
            acc >>= pf.precision  # arithmetic shift: floor, so + half rounds
            acc += planes[c, m:m + rows, m:m + w]
            out[y0:y0 + rows, :, c] = np.clip(acc, 0, 255)
    return out


# (radius, cross) shapes the encoder tries; it keeps the one with the lowest rate-distortion
# cost, or none. Measured on Kodak with `python -m bench postfilter` (bench/README.md).
SHAPES = ((3, 2), (4, 3))
PRECISION = 9
CHUNK_OVERHEAD = 12  # bytes around a chunk's payload: type, length, CRC


def _feature_rows(window: np.ndarray, pf: PostFilter, c: int, out: np.ndarray) -> np.ndarray:
    """The features of output channel c, one row per pixel, bias last, from `window`: float
    planes (3, rows + 2 margin, w + 2 margin) of decoded pixels around a strip of rows.
    Written column by column into `out` (at least rows * w by features): building the matrix
    in place instead of stacking a list of planes halves the time of a fit."""
    m = pf.margin
    rows, w = window.shape[1] - 2 * m, window.shape[2] - 2 * m
    layout = pf.layout(c)
    a = out[:rows * w, :len(layout) + 1]

    def at(d, dy, dx):
        return window[d, m + dy:m + dy + rows, m + dx:m + dx + w]

    for i, (d, kind, (dy, dx)) in enumerate(layout):
        col = a[:, i].reshape(rows, w)
        if kind == "diff":
            np.subtract(at(d, 0, 0), at(c, 0, 0), out=col)
        else:
            np.add(at(d, dy, dx), at(d, -dy, -dx), out=col)
            col -= 2 * at(d, 0, 0)
    a[:, -1] = 1.0
    return a


def padded(decoded: np.ndarray, margin: int) -> np.ndarray:
    """The whole image with `margin` edge-replicated pixels around it, as the decoder pads."""
    return np.pad(decoded, ((margin, margin), (margin, margin), (0, 0)), mode="edge")


def fit(original: np.ndarray, decoded: np.ndarray, radius: int, cross: int,
        precision: int = PRECISION) -> PostFilter:
    """The least-squares filter of this shape from decoded to original (uint8 (h, w, 3) each),
    its weights rounded to units of 2**-precision. Strip by strip: memory stays a few strips'
    features, whatever the image size."""
    shape = PostFilter(radius, cross, precision, ((),) * 3)
    m = shape.margin
    planes = padded(decoded, m).transpose(2, 0, 1)
    n = [len(shape.layout(c)) + 1 for c in range(3)]
    gram = [np.zeros((k, k)) for k in n]
    moment = [np.zeros(k) for k in n]
    strips = _strips(*decoded.shape[:2])
    # column-major: each feature a contiguous column, which is how it is written
    buffer = np.empty((strips[0][1] * decoded.shape[1], max(n)), order="F")
    for y0, rows in strips:
        window = planes[:, y0:y0 + rows + 2 * m].astype(np.float64)
        err = original[y0:y0 + rows].astype(np.float64) - decoded[y0:y0 + rows]
        for c in range(3):
            a = _feature_rows(window, shape, c, buffer)
            gram[c] += a.T @ a
            moment[c] += a.T @ err[:, :, c].reshape(-1)
    weights = []
    for c in range(3):
        # a touch of ridge: features can be collinear (a gray image's channels are equal)
        ridge = 1e-6 * np.trace(gram[c]) / n[c] + 1e-9
        solution = np.linalg.solve(gram[c] + ridge * np.eye(n[c]), moment[c])
        weights.append(tuple(int(v) for v in np.rint(solution * 2**precision)))
    return PostFilter(radius, cross, precision, tuple(weights))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two uint8 images on 0..255, strip by strip."""
    total = 0.0
    for y0, rows in _strips(*a.shape[:2]):
        diff = a[y0:y0 + rows].astype(np.float64) - b[y0:y0 + rows]
        total += float(np.sum(diff * diff))
    return total / a.size


def trial(pf: PostFilter, original: np.ndarray, decoded: np.ndarray) -> tuple[float, int] | None:
    """(MSE after applying pf, bytes its PFLT chunk adds to the file), or None when pf cannot
    be sent (weights beyond what the format allows)."""
    try:
        pf.check()
    except FormatError:
        return None
    return mse(apply(pf, padded(decoded, pf.margin)), original), len(pf.pack()) + CHUNK_OVERHEAD


def choose(original: np.ndarray, decoded: np.ndarray, lam: float,
           shapes=SHAPES) -> PostFilter | None:
    """The filter of `shapes` that lowers the rate-distortion cost lam * MSE + bits per pixel
    (the cost the model was trained for, MSE on 0..255) the most, or None when none lowers it."""
    pixels = original.shape[0] * original.shape[1]
    best, best_cost = None, lam * mse(decoded, original)
    for radius, cross in shapes:
        pf = fit(original, decoded, radius, cross)
        result = trial(pf, original, decoded)
        if result is None:
            continue
        cost = lam * result[0] + 8 * result[1] / pixels
        if cost < best_cost:
            best, best_cost = pf, cost
    return best
