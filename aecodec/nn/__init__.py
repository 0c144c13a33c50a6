"""Neural building blocks: GDN, the four transforms and the factorized density for z."""
from __future__ import annotations

from torch import nn


def zeroed(conv: nn.Conv2d) -> nn.Conv2d:
    """`conv` with its weight and bias at zero: the last layer of a branch that adds to what
    is already there, so a new branch changes nothing until training moves it."""
    for p in conv.parameters():
        nn.init.zeros_(p)
    return conv
