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
output. With `lower` widths the second scale has a third inside it, the same way one step
further down (8x8-pixel blocks, 3x3 convolutions that see 24x24 pixels at a sixty-fourth of
the cost), and with `lowest` widths the third a fourth (16x16-pixel blocks, 48x48 pixels at a
two-hundred-fifty-sixth of the cost). Last layers start at zero, so an added network changes
nothing until trained, and an added scale leaves a trained network as it was.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import zeroed

BLOCK = 2  # pixels per side of the blocks it works on
# The coarser scales, outermost first, by the names their parameters have (restoration.low.*):
# each sits inside the one before it, at half its resolution.
SCALES = ("low", "lower", "lowest")


def nested(low: tuple[int, ...] = (), lower: tuple[int, ...] = (),
           lowest: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """The widths of the coarser scales a network has, outermost first; ValueError for a
    scale without the one it sits in."""
    scales = [low, lower, lowest]
    while scales and not scales[-1]:
        scales.pop()
    for outer_name, name, outer in zip(SCALES, SCALES[1:], scales):
        if not outer:
            raise ValueError(f"{name} widths need {outer_name} widths: each coarser scale "
                             f"sits inside the one before it")
    return scales


def grid(low: tuple[int, ...] = (), lower: tuple[int, ...] = (),
         lowest: tuple[int, ...] = ()) -> int:
    """The image grid, in pixels, that the network's blocks lie on: the blocks of its coarsest
    scale (2x2 pixels, 4x4 with a second scale, 8x8 with a third, 16x16 with a fourth)."""
    return BLOCK << len(nested(low, lower, lowest))


def _convs(widths: tuple[int, ...]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Conv2d(a, b, 3, padding=1), nn.LeakyReLU(0.1)]
    return layers


def _scale(outer: int, widths: tuple[int, ...]) -> nn.Sequential:
    """A coarser scale on `outer` channels: down 2x2 (its first layer, with its activation,
    is where a still coarser scale joins), 3x3 layers between `widths`, back up 2x2 from zero."""
    return nn.Sequential(nn.Conv2d(outer, widths[0], 2, stride=2), nn.LeakyReLU(0.1),
                         *_convs(widths),
                         zeroed(nn.ConvTranspose2d(widths[-1], outer, 2, stride=2)))


def _run(layers: nn.Sequential, h: torch.Tensor,
         inner: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """`layers` on h, with the coarser scale `inner` added after the first layer and its
    activation (layers 0 and 1)."""
    for i, layer in enumerate(layers):
        h = layer(h)
        if i == 1 and inner is not None:
            h = h + inner(h)
    return h


class Restoration(nn.Module):
    def __init__(self, hidden: tuple[int, ...], levels: int, low: tuple[int, ...] = (),
                 lower: tuple[int, ...] = (), lowest: tuple[int, ...] = ()):
        super().__init__()
        if not hidden:
            raise ValueError("the restoration network needs at least one hidden layer")
        scales = nested(low, lower, lowest)
        channels = 3 * BLOCK * BLOCK
        self.body = nn.Sequential(*_convs((channels + 1, *hidden)),
                                  zeroed(nn.Conv2d(hidden[-1], channels, 3, padding=1)))
        # Each coarser scale sits after the first layer of the one above and adds to its
        # output; its last layer starts at zero, so it extends a trained network without
        # changing it, and the names of the trained network's parameters stay as they were.
        outers = [hidden[0]] + [widths[0] for widths in scales]
        for i, name in enumerate(SCALES):
            setattr(self, name, _scale(outers[i], scales[i]) if i < len(scales) else None)
        self.coarser = [getattr(self, name) for name in SCALES[:len(scales)]]
        self.top_level = max(levels - 1, 1)
        self.grid = grid(low, lower, lowest)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x (B, 3, H, W) from g_s, H and W multiples of self.grid; t (B,) the levels it was
        decoded at."""
        blocks = F.pixel_unshuffle(x, BLOCK) - 0.5
        level = (t.to(blocks.dtype) / self.top_level).view(-1, 1, 1, 1)
        level = level.expand(-1, 1, *blocks.shape[2:])
        h = torch.cat([blocks, level], dim=1)
        inner = None  # built from the coarsest scale out: each runs the next inside it
        for layers in reversed(self.coarser):
            inner = partial(_run, layers, inner=inner)
        return x + F.pixel_shuffle(_run(self.body, h, inner), BLOCK)


def radius(hidden: tuple[int, ...], low: tuple[int, ...] = (),
           lower: tuple[int, ...] = (), lowest: tuple[int, ...] = ()) -> int:
    """How far, in pixels, an output pixel sees beyond the cell of the network's grid that holds
    it, at most: a block (BLOCK px) for each 3x3 layer at half resolution, its last one too;
    at the k-th coarser scale, whose blocks are 2^k of those, one of its own blocks for each of
    its 3x3 layers (one fewer than its widths), and half of one for where its blocks lie across
    the finer scale's. Rounded up to a whole number of the grid, so that windows grown by it
    stay on the grid (the test measures the bound on random networks)."""
    if not hidden:
        return 0
    scales = nested(low, lower, lowest)
    reach = BLOCK * (len(hidden) + 1) + sum(
        (BLOCK << k) * (len(widths) - 1) + (BLOCK << k) // 2
        for k, widths in enumerate(scales, start=1))
    cell = grid(low, lower, lowest)
    return -(-reach // cell) * cell
