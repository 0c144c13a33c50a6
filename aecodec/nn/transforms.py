"""The four transforms of a mean-scale hyperprior (Minnen et al. 2018, no context model).

g_a: image -> y (stride 16)          g_s: y_hat -> image
h_a: y -> z (stride 4 on y)          h_s: z_hat -> (mean, log-scale) of y

h_s uses only convolutions and ReLU so that it can be re-run on integer weights
and activations in float64 (see aecodec.model.ExactHyperSynthesis), which is what
makes decoding bit-exact across machines.

Optional capacity where it is cheapest: residual bottleneck blocks (as in ELIC, He et al.
2022) at the latent end of g_a and the latent start of g_s, at 1/16 resolution, where a block
costs about 1 % of g_s's multiply-adds (and, measured, of a decode: `python -m bench blocks`).
They sit under their own names ("res0", ...) so that the layers of a model without them keep
their parameter names, and they start as the identity, so blocks added to a trained model
change nothing until training moves them.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from . import zeroed
from .gdn import GDN


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2,
                              output_padding=stride - 1)


class SubpixelDeconv(nn.ConvTranspose2d):
    """A 5x5 stride-2 transposed convolution computed as a 3x3 convolution to four phases of
    the output, then a pixel shuffle: the same function and the same parameters (the state
    dict does not change), but oneDNN's transposed convolution is slow with few output
    channels: g_s's image layer (128 -> 3) runs 2-3x faster this way on a CPU. Each output
    phase (row parity ry, column parity rx) sees the input offsets -1, 0, +1 through the taps
    _TAPS[ry] (5 marks a tap that does not exist, padded with zero)."""

    _TAPS = ((4, 2, 0), (5, 3, 1))

    def __init__(self, cin: int, cout: int):
        super().__init__(cin, cout, 5, stride=2, padding=2, output_padding=1)

    def subpixel_weight(self) -> torch.Tensor:
        taps = torch.tensor(self._TAPS, device=self.weight.device)
        w = nn.functional.pad(self.weight, (0, 1, 0, 1))  # index 5: the missing tap
        k = w[:, :, taps[:, :, None, None], taps[None, None]]  # (in, out, ry, dy, rx, dx)
        return k.permute(1, 2, 4, 0, 3, 5).reshape(4 * self.out_channels, self.in_channels, 3, 3)

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or self.bias is None:
            raise ValueError("SubpixelDeconv has a bias and a fixed output size (2x its input)")
        bias = self.bias.repeat_interleave(4)  # channel 4 * out + 2 * ry + rx
        return nn.functional.pixel_shuffle(
            nn.functional.conv2d(x, self.subpixel_weight(), bias, padding=1), 2)


class ResidualBottleneck(nn.Module):
    """x + 1x1(ReLU(3x3(ReLU(1x1(x))))) with `mid` channels inside (ModelConfig.block_width);
    the last layer starts at zero, so a new block is the identity. Widens the receptive field
    by one sample."""

    def __init__(self, channels: int, mid: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.ReLU(),
                                  nn.Conv2d(mid, mid, 3, padding=1), nn.ReLU(),
                                  zeroed(nn.Conv2d(mid, channels, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return x + self.body(x)
        return self.body(x).add_(x)  # the same sums, without one more full-size tensor


BLOCK_PREFIX = "res"  # latent blocks are named res0, res1, ... inside g_a and g_s


def is_latent_block(name: str) -> bool:
    """Whether a parameter or module name (e.g. 'g_s.res0.body.0.weight') is in a latent block."""
    return any(part.startswith(BLOCK_PREFIX) and part[len(BLOCK_PREFIX):].isdigit()
               for part in name.split("."))


def _numbered(layers: list[nn.Module], blocks: list[nn.Module], blocks_first: bool,
              inserted: Mapping[int, Sequence[tuple[str, nn.Module]]] | None = None
              ) -> nn.Sequential:
    """The layers named by their index, the latent blocks res0, res1, ... before or after
    them, and `inserted` modules (under their own names) right after the layer of that index."""
    named = []
    for i, layer in enumerate(layers):
        named += [(str(i), layer), *(inserted or {}).get(i, [])]
    res = [(f"{BLOCK_PREFIX}{i}", block) for i, block in enumerate(blocks)]
    return nn.Sequential(OrderedDict(res + named if blocks_first else named + res))


def analysis(n: int, m: int, blocks: int, block_mid: int, encoder_blocks: int = 0) -> nn.Sequential:
    """g_a; with `encoder_blocks` > 0, that many residual blocks (N/2 inside) after its GDNs
    at 1/4 and at 1/8 resolution: capacity only the encoder pays for, where the encode-speed
    bar has room and the decode bar has none. Named apart (enc4_0, enc8_0, ...) so that the
    numbered layers keep their names."""
    layers = [conv(3, n), GDN(n), conv(n, n), GDN(n), conv(n, n), GDN(n), conv(n, m)]
    inserted = {after: [(f"{prefix}{i}", ResidualBottleneck(n, n // 2))
                        for i in range(encoder_blocks)]
                for after, prefix in ((3, "enc4_"), (5, "enc8_"))}  # the GDNs at 1/4, 1/8
    return _numbered(layers, [ResidualBottleneck(m, block_mid) for _ in range(blocks)],
                     blocks_first=False, inserted=inserted)


def synthesis(n: int, m: int, blocks: int, block_mid: int,
              decoder_blocks: int = 0) -> nn.Sequential:
    """g_s; with `decoder_blocks` > 0, that many residual blocks (N/2 inside) after its
    inverse GDN at 1/8 resolution (dec8_0, ...): the decoder's capacity where it is cheapest
    outside the latents, each block about 2 % of a decode."""
    layers = [deconv(m, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True),
              deconv(n, n), GDN(n, inverse=True), SubpixelDeconv(n, 3)]
    inserted = {1: [(f"dec8_{i}", ResidualBottleneck(n, n // 2)) for i in range(decoder_blocks)]}
    return _numbered(layers, [ResidualBottleneck(m, block_mid) for _ in range(blocks)],
                     blocks_first=True, inserted=inserted)


def hyper_analysis(n: int, m: int) -> nn.Sequential:
    return nn.Sequential(conv(m, n, 3, 1), nn.ReLU(), conv(n, n), nn.ReLU(), conv(n, n))


def hyper_synthesis(n: int, m: int, hidden: tuple[int, ...]) -> nn.Sequential:
    first, mid = hidden
    return nn.Sequential(deconv(n, first), nn.ReLU(), deconv(first, mid), nn.ReLU(),
                         conv(mid, 2 * m, 3, 1))
