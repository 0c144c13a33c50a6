"""Per-channel learned density for z (the "factorized prior" of Balle et al. 2018, appendix 6.1).

Each channel has its own small monotone network mapping a value to the logit of its
cumulative distribution. Training uses it to estimate the bits of z; export samples it
on the integer grid to freeze one probability table per channel.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


class FactorizedDensity(nn.Module):
    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        dims = (1, *filters, 1)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for k in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / dims[k + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[k + 1], dims[k]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[k + 1], 1) - 0.5))
            if k < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[k + 1], 1)))

    def cdf_logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: (C, 1, K) values per channel -> (C, 1, K) logits of P(Z <= x)."""
        for k, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(matrix), x) + bias
            if k < len(self.factors):
                x = x + torch.tanh(self.factors[k]) * torch.tanh(x)
        return x

    def likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """Probability mass of the unit interval around each value of z (B, C, H, W)."""
        b, c, h, w = z.shape
        v = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self.cdf_logits(v - 0.5)
        upper = self.cdf_logits(v + 0.5)
        # Subtract in the tail where the sigmoids are far from 1, for precision.
        sign = -torch.sign(lower + upper).detach()
        p = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return p.reshape(c, b, h, w).permute(1, 0, 2, 3)

    @torch.no_grad()
    def pmf_grid(self, lo: int, hi: int) -> torch.Tensor:
        """(C, hi-lo+1) probability of each integer in [lo, hi] per channel, float64."""
        c = self.matrices[0].shape[0]
        grid = torch.arange(lo, hi + 1, dtype=torch.float32).view(1, 1, -1).expand(c, 1, -1)
        lower = torch.sigmoid(self.cdf_logits(grid - 0.5))
        upper = torch.sigmoid(self.cdf_logits(grid + 0.5))
        return (upper - lower).squeeze(1).double().clamp_min(0)
