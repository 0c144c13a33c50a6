"""Channel-wise context (Minnen & Singh 2020, without the spatial serial context): y is split
into equal slices of channels, coded in order; the mean and log-scale of slice k are the
hyperprior's plus a correction predicted from the hyperprior's parameters of slice k and the
decoded slices 0..k-1. Decoding stays parallel over positions.

The slice networks are conv/ReLU stacks, so they run in exact integer arithmetic at decode
time like h_s (aecodec.exact); their last layer starts at zero, so an untrained context
reproduces the hyperprior it was added to, and training can only start from there.
"""
from __future__ import annotations

import torch
from torch import nn


def slice_net(c_in: int, c_out: int, hidden: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU()]
        c_in = width
    last = nn.Conv2d(c_in, c_out, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


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
