"""Coding y once the hyperprior's integer (mean, log-scale) are known.

Plain hyperprior: y is one part of the stream, every symbol round(y - mean) with the table of
its snapped scale. Channel context (aecodec.nn.context): y is coded in slices of channels, in
order, each a part of the same stream; the mean and scale of slice k come from the integer
slice network fed with the hyperprior's parameters and the decoded slices 0..k-1
(y_hat = symbol * 2**ACT_BITS + mean, an integer), so the decoder rebuilds exactly the
tables the encoder used before it reads each slice. Checkerboard context (a context model
with `spatial` networks): each slice is two parts of the stream, its anchors first
(aecodec.nn.context.anchor_mask), then the other half with the mean and scale corrected by the
integer spatial network fed with the anchors' symbols.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import entropy
from .exact import ACT_BITS, ExactConvStack, scale_indexes
from .nn.context import anchor_mask
from .streams import reading


@dataclass
class ExactContext:
    nets: list[ExactConvStack]  # one per slice
    size: int  # channels per slice
    spatial: list[ExactConvStack] | None = None  # one per slice: the checkerboard context

    @classmethod
    def from_float(cls, context, spatial=None) -> "ExactContext":
        return cls([ExactConvStack.from_float(net) for net in context.nets], context.size,
                   [ExactConvStack.from_float(net) for net in spatial.nets] if spatial else None)

    @classmethod
    def from_arrays(cls, arrays, slices: int, m: int) -> "ExactContext":
        spatial = [ExactConvStack.from_arrays(arrays, f"cb.{k}") for k in range(slices)] \
            if "cb.0.0.weight" in arrays else None
        return cls([ExactConvStack.from_arrays(arrays, f"ctx.{k}") for k in range(slices)],
                   m // slices, spatial)

    def load_into(self, context, spatial=None) -> None:
        """The inverse of from_float: the float context (and checkerboard) networks set to
        these integers' values."""
        for net, exact in zip(context.nets, self.nets):
            exact.load_into(net)
        if spatial is not None:
            for net, exact in zip(spatial.nets, self._spatial()):
                exact.load_into(net)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for k, net in enumerate(self.nets):
            out.update(net.arrays(f"ctx.{k}"))
        for k, net in enumerate(self.spatial or ()):
            out.update(net.arrays(f"cb.{k}"))
        return out

    def _spatial(self) -> list[ExactConvStack]:
        if self.spatial is None:
            raise ValueError("this context model has no checkerboard networks")
        return self.spatial

    def slice_params(self, k: int, mean: np.ndarray, log_scale: np.ndarray,
                     decoded: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Integer mean and log-scale of slice k (scale 2**-ACT_BITS)."""
        part = slice(k * self.size, (k + 1) * self.size)
        inputs = np.concatenate([mean[part], log_scale[part], *decoded], axis=0)
        out = self.nets[k].run(torch.from_numpy(inputs.astype(np.float64))[None])
        delta = out[0].numpy().astype(np.int64)
        return mean[part] + delta[: self.size], log_scale[part] + delta[self.size:]

    def refine(self, k: int, symbols: np.ndarray, mean: np.ndarray, log_scale: np.ndarray,
               anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slice k's integer (mean, log-scale) with the non-anchors corrected from the anchors'
        symbols (zero elsewhere) and the log-scales: CheckerboardContext.refine, exactly."""
        inputs = np.concatenate([symbols * 2**ACT_BITS, log_scale], axis=0)
        out = self._spatial()[k].run(torch.from_numpy(inputs.astype(np.float64))[None])
        delta = out[0].numpy().astype(np.int64) * ~anchor
        return mean + delta[: self.size], log_scale + delta[self.size:]


def _code_slices(lm, mean: np.ndarray, log_scale: np.ndarray, code_slice):
    """Runs `code_slice(part, mean_k, rows_k, where) -> symbols_k[:, where]` over the slices
    (and with a checkerboard, over each slice's two halves) in order and returns the symbols,
    means and table rows of all of y."""
    context: ExactContext | None = lm.context
    every = np.ones(mean.shape[1:], dtype=bool)
    if context is None:
        all_rows = scale_indexes(log_scale, lm.thresholds)
        return code_slice(slice(None), mean, all_rows, every).reshape(mean.shape), mean, all_rows
    anchor = anchor_mask(*mean.shape[1:])
    symbols: list[np.ndarray] = []
    means: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    decoded: list[np.ndarray] = []
    for k in range(len(context.nets)):
        part = slice(k * context.size, (k + 1) * context.size)
        mean_k, scale_k = context.slice_params(k, mean, log_scale, decoded)
        rows_k = scale_indexes(scale_k, lm.thresholds)
        if context.spatial is None:
            sym_k = code_slice(part, mean_k, rows_k, every).reshape(mean_k.shape)
        else:
            sym_k = np.zeros(mean_k.shape, dtype=np.int64)
            sym_k[:, anchor] = code_slice(part, mean_k, rows_k, anchor)
            mean_k, scale_k = context.refine(k, sym_k, mean_k, scale_k, anchor)
            rows_k = scale_indexes(scale_k, lm.thresholds)
            sym_k[:, ~anchor] = code_slice(part, mean_k, rows_k, ~anchor)
        decoded.append(sym_k * 2**ACT_BITS + mean_k)
        symbols.append(sym_k)
        means.append(mean_k)
        rows.append(rows_k)
    return np.concatenate(symbols), np.concatenate(means), np.concatenate(rows)


def encode_y(lm, y: np.ndarray, mean: np.ndarray, log_scale: np.ndarray):
    """Float y (M, h, w) -> (stream bytes, symbols, integer means, table rows)."""
    encoder = entropy.StreamEncoder()

    def code_slice(part, mean_k, rows_k, where):
        sym = np.rint(y[part][:, where] - mean_k[:, where] / 2**ACT_BITS).astype(np.int64)
        sym = np.clip(sym, entropy.VALUE_MIN, entropy.VALUE_MAX)
        encoder.encode(sym, rows_k[:, where], lm.y_tables)
        return sym

    symbols, means, rows = _code_slices(lm, mean, log_scale, code_slice)
    return encoder.data(), symbols, means, rows


def decode_y(lm, name: str, data: bytes, mean: np.ndarray, log_scale: np.ndarray):
    """Inverse of `encode_y`: (symbols, integer means, table rows), each shaped like mean."""
    with reading(name):
        decoder = entropy.StreamDecoder(data)

    def code_slice(part, mean_k, rows_k, where):
        with reading(name):
            return decoder.decode(rows_k[:, where].ravel(), lm.y_tables).reshape(
                mean_k.shape[0], -1)

    return _code_slices(lm, mean, log_scale, code_slice)
