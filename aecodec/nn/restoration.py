"""The restoration network: a small residual network after g_s, conditioned on the level.

What g_s leaves wrong has a common shape at each rate (blur and ringing at the low levels,
little at the top), so a network that sees the decoded pixels and the level can take part of
it back. It is decoder capacity that costs no bits and trains cheaply: with everything else
frozen, it learns from pairs of decoded and original pixels (aecodec.train.restoration).

It runs at half resolution on 2x2 pixel blocks (pixel unshuffle: 12 channels), where a 3x3
convolution sees 6x6 pixels at a quarter of the full-resolution cost, plus one channel that
holds the level. With `low` widths it has a second scale: after its first layer, a 2x2
stride-2 convolution goes down to quarter resolution, where 3x3 convolutions see 12x12 pixels
at a sixteenth of the cost, and a transposed one comes back up, added to the first layer's
output. Last layers start at zero, so an added network changes nothing until trained, and an
added second scale leaves a trained network as it was.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import zeroed

BLOCK = 2  # pixels per side of the blocks it works on


def grid(low: tuple[int, ...] = ()) -> int:
    """The image grid, in pixels, that the network's blocks lie on: 4 with a second scale,
    which works on 4x4 pixels, 2 without."""
    return 2 * BLOCK if low else BLOCK


def _convs(widths: tuple[int, ...]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Conv2d(a, b, 3, padding=1), nn.LeakyReLU(0.1)]
    return layers


class Restoration(nn.Module):
    def __init__(self, hidden: tuple[int, ...], levels: int, low: tuple[int, ...] = ()):
        super().__init__()
        if not hidden:
            raise ValueError("the restoration network needs at least one hidden layer")
        channels = 3 * BLOCK * BLOCK
        self.body = nn.Sequential(*_convs((channels + 1, *hidden)),
                                  zeroed(nn.Conv2d(hidden[-1], channels, 3, padding=1)))
        # The second scale sits after the first layer and adds to its output; its last layer
        # starts at zero, so it extends a trained one-scale network without changing it.
        self.low: nn.Module | None = None
        if low:
            self.low = nn.Sequential(nn.Conv2d(hidden[0], low[0], 2, stride=2),
                                     nn.LeakyReLU(0.1), *_convs(low),
                                     zeroed(nn.ConvTranspose2d(low[-1], hidden[0], 2, stride=2)))
        self.top_level = max(levels - 1, 1)
        self.grid = grid(low)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x (B, 3, H, W) from g_s, H and W multiples of self.grid; t (B,) the levels it was
        decoded at."""
        blocks = F.pixel_unshuffle(x, BLOCK) - 0.5
        level = (t.to(blocks.dtype) / self.top_level).view(-1, 1, 1, 1)
        level = level.expand(-1, 1, *blocks.shape[2:])
        h = torch.cat([blocks, level], dim=1)
        for i, layer in enumerate(self.body):
            h = layer(h)
            if i == 1 and self.low is not None:  # after the first layer and its activation
                h = h + self.low(h)
        return x + F.pixel_shuffle(h, BLOCK)


def radius(hidden: tuple[int, ...], low: tuple[int, ...] = ()) -> int:
    """How far, in pixels, an output pixel sees: each 3x3 layer at half resolution one block
    further; the second scale one block for the way down and up, two for each of its 3x3
    layers. A whole number of its grid, so that windows grown by it stay on the grid."""
    if not hidden:
        return 0
    if not low:
        return BLOCK * (len(hidden) + 1)
    return -(-BLOCK * (len(hidden) + 2 + 2 * len(low)) // grid(low)) * grid(low)
