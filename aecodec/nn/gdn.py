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


class GDN(nn.Module):
    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_min = beta_min
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
        norm = F.conv2d(x * x, gamma, self._beta().to(x.dtype))
        if torch.is_grad_enabled():
            return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)
        # inference: the same products, computed in place (one tensor fewer per layer)
        return (norm.sqrt_() if self.inverse else norm.rsqrt_()).mul_(x)
