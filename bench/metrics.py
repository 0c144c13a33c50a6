"""Per-image metrics on 8-bit RGB arrays, and BD-rate over mean curves."""

from __future__ import annotations

import math
import warnings

import numpy as np

# Identical images have infinite PSNR; JSON cannot hold inf and one inf would swamp a mean,
# so cap it (no lossy point reaches this).
PSNR_CAP = 100.0


def bpp(nbytes: int, shape) -> float:
    return 8.0 * nbytes / (shape[0] * shape[1])


def psnr(ref: np.ndarray, out: np.ndarray) -> float:
    """PSNR-RGB: one MSE over all three channels of the 8-bit images."""
    if ref.shape != out.shape:
        raise ValueError(f"decoded shape {out.shape} != original {ref.shape}")
    mse = np.mean((ref.astype(np.float64) - out.astype(np.float64)) ** 2)
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(255.0**2 / mse))


def ms_ssim(ref: np.ndarray, out: np.ndarray) -> float:
    """MS-SSIM from pytorch-msssim (data_range=255, default 5 scales and weights).

    Its five scales need a short side > 160 px; smaller images get NaN rather than a number
    computed some other way.
    """
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    if min(ref.shape[:2]) <= 160:
        return float("nan")

    def t(a):
        # np.array copies: arrays from PIL are read-only, which torch warns about.
        return torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].double()

    with torch.no_grad():
        return float(_ms_ssim(t(ref), t(out), data_range=255, size_average=True))


def monotone(rates, dists):
    """Points sorted by rate, keeping only those that raise the quality.

    PCHIP needs quality strictly increasing; a codec whose quality dips as rate grows
    (e.g. a too-low J2K ratio saturating) would otherwise break the fit.
    """
    pts = sorted(zip(rates, dists))
    keep = []
    for r, d in pts:
        if not keep or d > keep[-1][1]:
            keep.append((r, d))
    return [p[0] for p in keep], [p[1] for p in keep]


def bd_rate(anchor, test):
    """BD-rate (%) of test vs anchor, each (rates, psnrs); PCHIP on log-rate (bjontegaard).

    Returns (percent, lo, hi) with [lo, hi] the common quality range integrated over, or
    (nan, lo, hi) when the curves do not overlap or have fewer than 2 usable points.
    """
    import bjontegaard

    ra, da = monotone(*anchor)
    rt, dt = monotone(*test)
    lo, hi = max(min(da), min(dt)), min(max(da), max(dt))
    if len(ra) < 2 or len(rt) < 2 or lo >= hi:
        return float("nan"), lo, hi
    with warnings.catch_warnings():
        # The package warns below 75% overlap; the report states the range instead.
        warnings.simplefilter("ignore")
        v = bjontegaard.bd_rate(ra, da, rt, dt, method="pchip", require_matching_points=False)
    return float(v), lo, hi


def mean_curves(rows: list[dict], by: str, groups, qualities) -> dict:
    """{group: (mean bpp per quality, mean PSNR per quality)} over the rows whose field `by`
    is that group: the per-setting curves of the smaller benches, averaged over images."""
    def mean(g, q, key):
        return float(np.mean([r[key] for r in rows if r[by] == g and r["quality"] == q]))

    return {g: ([mean(g, q, "bpp") for q in qualities], [mean(g, q, "psnr") for q in qualities])
            for g in groups}
