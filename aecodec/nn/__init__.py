"""Neural building blocks: GDN, the four transforms and the factorized density for z."""
from __future__ import annotations

from typing import TypeVar

from torch import nn


Conv = TypeVar("Conv", nn.Conv2d, nn.ConvTranspose2d)


def zeroed(conv: Conv) -> Conv:
    """`conv` with its weight and bias at zero: the last layer of a branch that adds to what
    is already there, so a new branch changes nothing until training moves it."""
    for p in conv.parameters():
        nn.init.zeros_(p)
    return conv
