"""Checks and decoding of one tile's entropy-coded streams.

A stream's length is checked against the symbol count the header implies before anything is
decoded (docs/ROBUSTNESS.md derives both bounds). Upper: a table symbol costs at most 16.006
bits (smallest frequency 1/2**16, rescaled by constriction to 24-bit precision where it stays
>= 255/2**24), an escape adds 16 bits (uniform over 2**16 values), the range coder's
truncation at most -log2(1 - 2**-8) = 0.0057 bits per coded value, and the flush 2 words:
at most 32 + 1/16 bits per symbol plus 3 words. Lower: the coder emits a 32-bit word each time
its 64-bit range has shrunk by 2**32, so a stream carries at least I/32 - 1 words, where I is
the information of its symbols, at least -log2(largest probability of the row) each.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from . import entropy
from .errors import AecError, DecodeError


def max_stream_bytes(n_symbols: int) -> int:
    """The longest stream the encoder can produce for `n_symbols` symbols."""
    return 4 * (n_symbols + n_symbols // 512 + 3)


def min_bits_per_row(tables: entropy.TableSet) -> np.ndarray:
    """The fewest bits any symbol coded with each row can cost (its most probable entry)."""
    fmax = np.maximum.reduceat(tables.freqs.astype(np.int64), tables._starts[:-1].astype(np.int64))
    # constriction's rescaling to 24-bit precision can raise a probability by at most 2**-23
    p = np.minimum(1.0, fmax / 2.0**entropy.FREQ_BITS + 2.0**-23)
    return -np.log2(p)


def min_stream_bytes(bits: float) -> int:
    """The shortest stream that can carry `bits` bits of information, less a margin of 1/64
    and one word (against differences in how constriction versions round probabilities)."""
    return 4 * max(0, math.floor(bits * (1 - 1 / 64) / 32) - 2)


def check_stream(name: str, data: bytes, n_symbols: int, min_bits: float, size: str) -> None:
    lo, hi = min_stream_bytes(min_bits), max_stream_bytes(n_symbols)
    if not lo <= len(data) <= hi:
        raise DecodeError(
            f"{name} has {len(data)} bytes, but the {n_symbols} symbols of {size} need between "
            f"{lo} and {hi}: the header and the stream do not belong together (corrupt or "
            "crafted file)")


@contextmanager
def reading(name: str):
    """Turns a failure of the range decoder inside the block into a DecodeError naming `name`."""
    try:
        yield
    except AecError:
        raise
    except BaseException as exc:  # a Rust panic surfaces as pyo3's PanicException(BaseException)
        if type(exc).__name__ != "PanicException":
            raise
        raise DecodeError(f"{name} is corrupt (the range decoder failed: {exc})") from None


def decode_stream(name: str, data: bytes, rows: np.ndarray, tables: entropy.TableSet) -> np.ndarray:
    with reading(name):
        return entropy.decode(data, rows, tables)


def z_rows(shape) -> np.ndarray:
    """z is coded with one table per channel: the row of each symbol is its channel."""
    return np.broadcast_to(np.arange(shape[0])[:, None, None], shape).ravel()
