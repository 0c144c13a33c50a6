"""h_s and the context networks in exact integer arithmetic: the numbers the coder depends on.

A float hyper-synthesis gives slightly different outputs on different CPUs, GPUs, thread
counts and library versions; one flipped scale index desynchronizes the coder and the rest
of the file decodes to garbage (CompressAI issues #279, #235). Here every weight is an integer
(scale 2**WEIGHT_BITS), every activation an integer (scale 2**ACT_BITS), and convolutions run
in float64, which adds integers exactly - in any order - while every partial sum stays below
2**53. Between layers, floor(acc / 2**WEIGHT_BITS) is exact too (a power-of-two division).
The outputs are integer means (in units of 2**-ACT_BITS) and integer log-scales snapped to a
table index by integer comparison. The channel-context networks (aecodec.context) are
conv/ReLU stacks too and run the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import DecodeError

WEIGHT_BITS = 12
ACT_BITS = 10
EXACT_LIMIT = 2.0**52  # headroom below 2**53 for sums of integer products


@dataclass
class IntLayer:
    weight: torch.Tensor  # float64 holding integers, scale 2**WEIGHT_BITS
    bias: torch.Tensor  # float64 holding integers, scale 2**(WEIGHT_BITS + ACT_BITS)
    transposed: bool
    stride: int
    padding: int
    output_padding: int
    relu: bool


class ExactConvStack:
    """A conv / transposed-conv / ReLU stack on integer weights and activations."""

    def __init__(self, layers: list[IntLayer]):
        self.layers = layers
        # Worst-case growth per layer (sum of |w| over one output), used to bound sums.
        self._gains = [float(l.weight.abs().sum(dim=(0 if l.transposed else 1, 2, 3)).max())
                       for l in layers]

    @classmethod
    def from_float(cls, stack: nn.Sequential):
        layers = []
        mods = list(stack)
        for i, mod in enumerate(mods):
            if isinstance(mod, nn.ReLU):
                continue
            if not isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)) or mod.bias is None:
                raise ValueError(f"no exact form of {mod}: convolutions with a bias and ReLUs only")
            relu = i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU)
            transposed = isinstance(mod, nn.ConvTranspose2d)
            w = torch.round(mod.weight.detach().double() * 2**WEIGHT_BITS)
            b = torch.round(mod.bias.detach().double() * 2**(WEIGHT_BITS + ACT_BITS))
            layers.append(IntLayer(w, b, transposed, mod.stride[0], int(mod.padding[0]),
                                   mod.output_padding[0] if transposed else 0, relu))
        return cls(layers)

    @torch.no_grad()
    def load_into(self, stack: nn.Sequential) -> None:
        """The inverse of from_float: set a float stack of the same layout to these integers'
        values (training and encoder-side refinement run the float copy)."""
        convs = [m for m in stack if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        if len(convs) != len(self.layers):
            raise ValueError("integer network does not match its float layout")
        for conv, layer in zip(convs, self.layers):
            assert conv.bias is not None  # from_float made every layer with one
            conv.weight.copy_(layer.weight / 2**WEIGHT_BITS)
            conv.bias.copy_(layer.bias / 2**(WEIGHT_BITS + ACT_BITS))

    def arrays(self, prefix: str = "h_s") -> dict[str, np.ndarray]:
        out = {}
        for i, l in enumerate(self.layers):
            # int16 where the integers fit (most do: |w| < 8 at scale 2**12), else int32
            small = float(l.weight.abs().max()) < 2**15
            out[f"{prefix}.{i}.weight"] = l.weight.numpy().astype(np.int16 if small else np.int32)
            out[f"{prefix}.{i}.bias"] = l.bias.numpy().astype(np.int64)
            out[f"{prefix}.{i}.meta"] = np.array(
                [l.transposed, l.stride, l.padding, l.output_padding, l.relu], dtype=np.int32)
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "h_s"):
        layers = []
        i = 0
        while f"{prefix}.{i}.weight" in arrays:
            t, s, p, op, relu = (int(v) for v in arrays[f"{prefix}.{i}.meta"])
            layers.append(IntLayer(torch.from_numpy(arrays[f"{prefix}.{i}.weight"].astype(np.float64)),
                                   torch.from_numpy(arrays[f"{prefix}.{i}.bias"].astype(np.float64)),
                                   bool(t), s, p, op, bool(relu)))
            i += 1
        return cls(layers)

    @torch.no_grad()
    def run(self, a: torch.Tensor) -> torch.Tensor:
        """Integer activations (1, C, h, w) in float64, scale 2**ACT_BITS -> the same for the
        output. Raises DecodeError rather than leave the exact range."""
        for layer, gain in zip(self.layers, self._gains):
            # Bound the largest possible partial sum before computing it.
            if float(a.abs().max()) * gain + float(layer.bias.abs().max()) >= EXACT_LIMIT:
                raise DecodeError("latent values too large for exact decoding")
            if layer.transposed:
                acc = F.conv_transpose2d(a, layer.weight, layer.bias, layer.stride,
                                         layer.padding, layer.output_padding)
            elif _products_pay(layer, a):
                acc = _same_conv(a, layer.weight, layer.bias)
            else:
                acc = F.conv2d(a, layer.weight, layer.bias, layer.stride, layer.padding)
            if layer.relu:
                acc.clamp_min_(0)
            # floor(acc / 2**WEIGHT_BITS): scaling by a power of two is exact in float64,
            # and in place it saves two passes over the largest tensors of the decoder
            a = acc.mul_(2.0**-WEIGHT_BITS).floor_()
        return a


def _products_pay(layer: IntLayer, a: torch.Tensor) -> bool:
    """Whether _same_conv beats F.conv2d for this layer: a stride-1 'same' convolution wider
    than 1x1 on one image, with few output channels, where the im2col copy of F.conv2d costs
    as much as its one large product (the context and checkerboard networks' layers, 64 or
    fewer outputs: 0.68-0.85x the time, minimum of 15 interleaved runs on one AVX2 core; h_s's
    last layer, 384 outputs: 1.14x, so it keeps F.conv2d)."""
    return (not layer.transposed and layer.stride == 1 and layer.weight.shape[2] > 1
            and layer.weight.shape[2:] == (2 * layer.padding + 1,) * 2
            and a.shape[0] == 1 and layer.weight.shape[0] <= 128)


def _same_conv(a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """F.conv2d(a, weight, bias, padding=k // 2) for one image (1, C, h, w) in float64, as k*k
    matrix products accumulated in place, with no im2col copy: in the zero-padded input
    flattened row by row, the samples that tap (dy, dx) reads for every output position form
    one contiguous range of columns, if each output row is computed at the padded width (the
    extra 2p columns are dropped at the end). The same integers as F.conv2d: every sum is exact."""
    out_c, in_c, k, _ = weight.shape
    p = k // 2
    h, w = a.shape[2:]
    width = w + 2 * p
    # one padding row more at the bottom, so that the last tap's range stays inside
    padded = F.pad(a, (p, p, p, p + 1))[0].reshape(in_c, -1)
    acc = bias[:, None].expand(out_c, h * width).clone()
    taps = weight.permute(2, 3, 0, 1)  # (dy, dx, out, in)
    for dy in range(k):
        for dx in range(k):
            start = dy * width + dx
            acc.addmm_(taps[dy, dx], padded[:, start:start + h * width])
    return acc.view(out_c, h, width)[None, :, :, :w]


class ExactHyperSynthesis(ExactConvStack):
    def __call__(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer z (C, h, w) -> integer (mean, log-scale) of y, each (M, 4h, 4w), scale 2**-ACT_BITS."""
        a = self.run(torch.from_numpy(np.asarray(z, dtype=np.float64) * 2**ACT_BITS)[None])
        mean, log_scale = a[0].numpy().astype(np.int64).reshape(2, -1, *a.shape[2:])
        return mean, log_scale


def scale_thresholds(scale_min: float, scale_max: float, count: int) -> np.ndarray:
    """Integer log-scale boundaries between `count` log-spaced scales (computed once, shipped)."""
    log_scales = np.linspace(np.log(scale_min), np.log(scale_max), count)
    mids = (log_scales[:-1] + log_scales[1:]) / 2
    return np.ceil(mids * 2**ACT_BITS).astype(np.int64)


def scale_indexes(log_scale: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Snap integer log-scales to table indexes: the number of thresholds at or below each."""
    return np.searchsorted(thresholds, log_scale, side="right")
