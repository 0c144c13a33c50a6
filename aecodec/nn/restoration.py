"""The restoration network: a small residual network after g_s, conditioned on the level.

What g_s leaves wrong has a common shape at each rate (blur and ringing at the low levels,
little at the top), so a network that sees the decoded pixels and the level can take part of
it back. It is decoder capacity that costs no bits and trains cheaply: with everything else
frozen, it learns from pairs of decoded and original pixels (aecodec.train.restoration).

It runs at half resolution on 2x2 pixel blocks (pixel unshuffle: 12 channels), where a 3x3
convolution sees 6x6 pixels at a quarter of the full-resolution cost, plus one channel that
holds the level. Its last layer starts at zero, so an added network changes nothing until
trained.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import zeroed

BLOCK = 2  # pixels per side of the blocks it works on


class Restoration(nn.Module):
    def __init__(self, hidden: tuple[int, ...], levels: int):
        super().__init__()
        if not hidden:
            raise ValueError("the restoration network needs at least one hidden layer")
        channels = 3 * BLOCK * BLOCK
        widths = (channels + 1, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.LeakyReLU(0.1)]
        layers.append(zeroed(nn.Conv2d(widths[-1], channels, 3, padding=1)))
        self.body = nn.Sequential(*layers)
        self.top_level = max(levels - 1, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x (B, 3, H, W) from g_s, H and W even; t (B,) the levels it was decoded at."""
        blocks = F.pixel_unshuffle(x, BLOCK) - 0.5
        level = (t.to(blocks.dtype) / self.top_level).view(-1, 1, 1, 1)
        level = level.expand(-1, 1, *blocks.shape[2:])
        return x + F.pixel_shuffle(self.body(torch.cat([blocks, level], dim=1)), BLOCK)


def radius(hidden: tuple[int, ...]) -> int:
    """How far, in pixels, an output pixel sees: each 3x3 layer one block further."""
    return BLOCK * (len(hidden) + 1) if hidden else 0
