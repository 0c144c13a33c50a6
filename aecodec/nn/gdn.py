"""Generalized divisive normalization (Balle et al. 2016).

GDN:  y_i = x_i / sqrt(beta_i + sum_j gamma_ij * x_j^2)
IGDN: y_i = x_i * sqrt(beta_i + sum_j gamma_ij * x_j^2)

beta and gamma must stay positive; they are stored as the square of a free
parameter (plus a floor), the usual reparameterization that keeps gradients
alive near zero.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

_PEDESTAL = 2.0**-18
BAND_ELEMENTS = 2**16  # floats per band of pixels in CPU inference (256 KiB, in L2)


class GDN(nn.Module):
    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_min = beta_min
        # Inference may write the result over its input (set by the weights loader, whose
        # networks feed each GDN a fresh convolution output that nothing else holds): a
        # Kodak-sized layer at 1/2 resolution then needs no new 50 MB output tensor, whose
        # first touch costs more than the arithmetic in it.
        self.overwrite_input = False
        self.beta_raw = nn.Parameter(torch.sqrt(torch.ones(channels) + _PEDESTAL))
        self.gamma_raw = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + _PEDESTAL))

    def _beta(self) -> torch.Tensor:
        floor = (self.beta_min + _PEDESTAL) ** 0.5
        return torch.clamp(self.beta_raw, min=floor) ** 2 - _PEDESTAL

    def _gamma(self) -> torch.Tensor:
        return torch.clamp(self.gamma_raw, min=_PEDESTAL**0.5) ** 2 - _PEDESTAL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        gamma = self._gamma().to(x.dtype).view(c, c, 1, 1)
        beta = self._beta().to(x.dtype)
        if torch.is_grad_enabled():
            norm = F.conv2d(x * x, gamma, beta)
            return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)
        pixels_last = x.permute(0, 2, 3, 1)  # (N, H, W, C): contiguous when x is channels-last
        if x.device.type != "cpu" or not pixels_last.is_contiguous():
            return self._normalize(x, gamma, beta)
        # On a CPU the passes over a full-resolution tensor are memory-bound; bands of pixels
        # that stay in cache make them faster. In channels-last memory the 1x1 convolution
        # over channels is a plain matrix product on each band, with no layout conversion in
        # or out (a band sliced from a channels-last tensor is not one to conv2d, which copied
        # it to and from its own layout: 0.14 s of a Kodak decode). Every pass writes into
        # buffers allocated once, the last one straight into the output (the input itself
        # when allowed: each band is read before it is written). Each output value depends
        # on its own position's channels only, so bands change nothing but the speed.
        pixels = pixels_last.reshape(-1, c)
        out = pixels if self.overwrite_input else torch.empty_like(pixels)
        band = max(1, min(BAND_ELEMENTS // c, pixels.shape[0]))
        square, norm = torch.empty(band, c, dtype=x.dtype), torch.empty(band, c, dtype=x.dtype)
        gamma_t = gamma.view(c, c).t()
        for start in range(0, pixels.shape[0], band):
            v = pixels[start:start + band]
            sq, nm = square[:v.shape[0]], norm[:v.shape[0]]
            torch.mul(v, v, out=sq)
            torch.addmm(beta, sq, gamma_t, out=nm)
            if self.inverse:
                nm.sqrt_()
            else:
                nm.rsqrt_()
            torch.mul(nm, v, out=out[start:start + v.shape[0]])
        return out.view(pixels_last.shape).permute(0, 3, 1, 2)

    def _normalize(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Inference: the products computed in place (one tensor fewer per layer)."""
        norm = F.conv2d(x * x, gamma, beta)
        return (norm.sqrt_() if self.inverse else norm.rsqrt_()).mul_(x)
