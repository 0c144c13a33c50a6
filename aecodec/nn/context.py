"""Channel-wise context (Minnen & Singh 2020, without the spatial serial context): y is split
into equal slices of channels, coded in order; the mean and log-scale of slice k are the
hyperprior's plus a correction predicted from the hyperprior's parameters of slice k and the
decoded slices 0..k-1. Decoding stays parallel over positions.

The slice networks are conv/ReLU stacks, so they run in exact integer arithmetic at decode
time like h_s (aecodec.exact); their last layer starts at zero, so an untrained context
reproduces the hyperprior it was added to, and training can only start from there.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import zeroed


def slice_net(c_in: int, c_out: int, hidden: tuple[int, ...], first: int = 3,
              rest: int = 3) -> nn.Sequential:
    """Conv/ReLU stack: the first convolution `first` x `first`, the others `rest` x `rest`."""
    layers: list[nn.Module] = []
    for i, width in enumerate(hidden):
        k = first if i == 0 else rest
        layers += [nn.Conv2d(c_in, width, k, padding=k // 2), nn.ReLU()]
        c_in = width
    k = rest if hidden else first
    return nn.Sequential(*layers, zeroed(nn.Conv2d(c_in, c_out, k, padding=k // 2)))


class ChannelContext(nn.Module):
    def __init__(self, m: int, slices: int, hidden: tuple[int, ...]):
        super().__init__()
        if m % slices:
            raise ValueError(f"M={m} does not split into {slices} equal slices")
        self.size = m // slices
        s = self.size
        self.nets = nn.ModuleList(slice_net(2 * s + k * s, 2 * s, hidden) for k in range(slices))

    def slice_params(self, k: int, mean: torch.Tensor, log_scale: torch.Tensor,
                     decoded: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-scale of slice k from the hyperprior's (whole M) and slices 0..k-1."""
        part = slice(k * self.size, (k + 1) * self.size)
        hyper_mean, hyper_scale = mean[:, part], log_scale[:, part]
        delta = self.nets[k](torch.cat([hyper_mean, hyper_scale, *decoded], dim=1))
        d_mean, d_scale = delta.chunk(2, dim=1)
        return hyper_mean + d_mean, hyper_scale + d_scale


class ResidualPrediction(nn.Module):
    """Latent residual prediction (Minnen & Singh 2020): a bounded correction added to each
    decoded slice before synthesis, predicted from the slice's mean and the decoded slices up
    to and including it, to take back part of the rounding error.

    It only shapes the reconstruction: the context networks keep seeing the integer y_hat, so
    the entropy coder's inputs stay exact and this network may run in plain floats. Its last
    layer starts at zero (no correction), so it can be added to a trained model.
    """

    def __init__(self, m: int, slices: int, hidden: tuple[int, ...]):
        super().__init__()
        self.size = m // slices
        s = self.size
        self.nets = nn.ModuleList(slice_net(s + (k + 1) * s, s, hidden) for k in range(slices))

    def forward(self, y_hat: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """y_hat and the slice means (B, M, h, w) -> y_hat with every slice corrected."""
        s, out = self.size, []
        for k, net in enumerate(self.nets):
            part = slice(k * s, (k + 1) * s)
            r = net(torch.cat([mean[:, part], y_hat[:, : (k + 1) * s]], dim=1))
            out.append(y_hat[:, part] + 0.5 * torch.tanh(r))
        return torch.cat(out, dim=1)


def anchor_mask(h: int, w: int) -> np.ndarray:
    """The checkerboard's first half, (h, w) bool: positions with i + j even."""
    return (np.add.outer(np.arange(h), np.arange(w)) % 2) == 0


class CheckerboardContext(nn.Module):
    """Two passes inside each slice (He et al. 2021, "Checkerboard context model"): the anchors
    (anchor_mask) are coded with the slice's channel-context parameters; the other half then
    gets a correction of its mean and log-scale predicted from the anchors' symbols around it
    (a 5x5 first layer sees the 12 nearest) and the slice's log-scales. Two passes, each
    parallel over positions; no serial scan.

    The networks feed the coder, so they run in exact integer arithmetic at decode time like
    the slice networks; their last layer starts at zero (the channel context exactly).
    """

    def __init__(self, m: int, slices: int, hidden: tuple[int, ...]):
        super().__init__()
        self.size = m // slices
        s = self.size
        self.nets = nn.ModuleList(slice_net(2 * s, 2 * s, hidden, first=5, rest=1)
                                  for _ in range(slices))

    def refine(self, k: int, symbols: torch.Tensor, mean: torch.Tensor,
               log_scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Slice k's (mean, log-scale) with the non-anchors corrected; `symbols` are the
        slice's y rounded around `mean`, of which only the anchors are used."""
        anchor = torch.from_numpy(anchor_mask(*symbols.shape[2:])).to(symbols.device)
        delta = self.nets[k](torch.cat([symbols * anchor, log_scale], dim=1))
        d_mean, d_scale = (delta * ~anchor).chunk(2, dim=1)
        return mean + d_mean, log_scale + d_scale
