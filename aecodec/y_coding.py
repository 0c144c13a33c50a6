"""Coding y once the hyperprior's integer (mean, log-scale) are known.

Plain hyperprior: y is one part of the stream, every symbol round(y - mean) with the table of
its snapped scale. Channel context (aecodec.nn.context): y is coded in slices of channels, in
order, each a part of the same stream; the mean and scale of slice k come from the integer
slice network fed with the hyperprior's parameters and the decoded slices 0..k-1
(y_hat = symbol * 2**ACT_BITS + mean, an integer), so the decoder rebuilds exactly the
tables the encoder used before it reads each slice.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import entropy
from .exact import ACT_BITS, ExactConvStack, scale_indexes
from .streams import reading


@dataclass
class ExactContext:
    nets: list[ExactConvStack]  # one per slice
    size: int  # channels per slice

    @classmethod
    def from_float(cls, context) -> "ExactContext":
        return cls([ExactConvStack.from_float(net) for net in context.nets], context.size)

    @classmethod
    def from_arrays(cls, arrays, slices: int, m: int) -> "ExactContext":
        return cls([ExactConvStack.from_arrays(arrays, f"ctx.{k}") for k in range(slices)],
                   m // slices)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for k, net in enumerate(self.nets):
            out.update(net.arrays(f"ctx.{k}"))
        return out

    def slice_params(self, k: int, mean: np.ndarray, log_scale: np.ndarray,
                     decoded: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Integer mean and log-scale of slice k (scale 2**-ACT_BITS)."""
        part = slice(k * self.size, (k + 1) * self.size)
        inputs = np.concatenate([mean[part], log_scale[part], *decoded], axis=0)
        delta = self.nets[k].run(torch.from_numpy(inputs.astype(np.float64))[None])
        delta = delta[0].numpy().astype(np.int64)
        return mean[part] + delta[: self.size], log_scale[part] + delta[self.size:]


def _code_slices(lm, mean: np.ndarray, log_scale: np.ndarray, code_slice):
    """Runs `code_slice(part, mean_k, rows_k) -> symbols_k` over the slices in order and
    returns the symbols, means and table rows of all of y."""
    context: ExactContext | None = lm.context
    if context is None:
        rows = scale_indexes(log_scale, lm.thresholds)
        return code_slice(slice(None), mean, rows), mean, rows
    symbols, means, rows, decoded = [], [], [], []
    for k in range(len(context.nets)):
        mean_k, scale_k = context.slice_params(k, mean, log_scale, decoded)
        rows_k = scale_indexes(scale_k, lm.thresholds)
        sym_k = code_slice(slice(k * context.size, (k + 1) * context.size), mean_k, rows_k)
        decoded.append(sym_k * 2**ACT_BITS + mean_k)
        symbols.append(sym_k)
        means.append(mean_k)
        rows.append(rows_k)
    return np.concatenate(symbols), np.concatenate(means), np.concatenate(rows)


def encode_y(lm, y: np.ndarray, mean: np.ndarray, log_scale: np.ndarray):
    """Float y (M, h, w) -> (stream bytes, symbols, integer means, table rows)."""
    encoder = entropy.StreamEncoder()

    def code_slice(part, mean_k, rows_k):
        sym = np.rint(y[part] - mean_k / 2**ACT_BITS).astype(np.int64)
        sym = np.clip(sym, entropy.VALUE_MIN, entropy.VALUE_MAX)
        encoder.encode(sym, rows_k, lm.y_tables)
        return sym

    symbols, means, rows = _code_slices(lm, mean, log_scale, code_slice)
    return encoder.data(), symbols, means, rows


def decode_y(lm, name: str, data: bytes, mean: np.ndarray, log_scale: np.ndarray):
    """Inverse of `encode_y`: (symbols, integer means, table rows), each shaped like mean."""
    with reading(name):
        decoder = entropy.StreamDecoder(data)

    def code_slice(part, mean_k, rows_k):
        with reading(name):
            return decoder.decode(rows_k.ravel(), lm.y_tables).reshape(mean_k.shape)

    return _code_slices(lm, mean, log_scale, code_slice)
