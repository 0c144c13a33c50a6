"""Entropy coding of integer latents with constriction's range coder (numpy only, no torch).

Every symbol is coded with one of a small set of frozen categorical tables (a `TableSet`)
chosen by an integer row index that the decoder can compute before decoding: the channel for
z, the snapped scale index for y. Tables are integer frequencies shipped with the weights, so
the coder sees bit-identical models on every machine.

Stream layout (what a decoder must mirror):
1. Symbols are grouped by row index in increasing order; inside a group they keep their
   flattened (C-order) position order. For each non-empty group, one vectorized encode with
   that row's table. A row covers the values [offset, offset + length); anything outside codes
   the row's last entry, ESCAPE.
2. Then every escaped value, in the same order, clipped to the declared range
   [VALUE_MIN, VALUE_MAX] and coded with a uniform model over that range.
3. A stream may hold several such parts one after the other (the channel-context model codes
   y slice by slice, and the tables of a slice depend on the slices before it).
4. The compressed words are written as little-endian uint32.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import constriction
import numpy as np

from .errors import DecodeError

CODER_ID = 1
FREQ_BITS = 16
VALUE_MIN = -(2**15)
VALUE_MAX = 2**15 - 1


def quantize_pmf(pmf: np.ndarray, escape_mass: float) -> np.ndarray:
    """Float probabilities (+ escape mass) -> integer frequencies summing to 2**FREQ_BITS.

    Every entry gets at least 1, so every value (and the escape) stays codable.
    Only used at export time; the result is what ships.
    """
    probs = np.append(np.asarray(pmf, dtype=np.float64), max(escape_mass, 0.0))
    probs = np.maximum(probs, 0) / probs.sum()
    total = 2**FREQ_BITS
    freqs = np.maximum(np.floor(probs * (total - len(probs))).astype(np.int64), 0) + 1
    # Hand the remainder to the most probable entries, largest first.
    short = total - int(freqs.sum())
    order = np.argsort(-probs, kind="stable")
    freqs[order[: short % len(probs)]] += 1
    freqs += short // len(probs)
    assert freqs.sum() == total and freqs.min() >= 1
    return freqs.astype(np.uint32)


@dataclass
class TableSet:
    """Rows of integer frequencies; row r covers values offsets[r] .. offsets[r]+lengths[r]-1."""

    offsets: np.ndarray  # int32 (R,)
    lengths: np.ndarray  # int32 (R,), values per row, not counting the escape entry
    freqs: np.ndarray  # uint32, all rows concatenated, each row lengths[r] + 1 entries
    _models: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        self.lengths = np.asarray(self.lengths, dtype=np.int64)
        self.freqs = np.asarray(self.freqs, dtype=np.uint32)
        starts = np.concatenate([[0], np.cumsum(self.lengths + 1)])
        if starts[-1] != len(self.freqs) or (self.lengths < 1).any():
            raise ValueError("table set: lengths do not match the frequency array")
        self._starts = starts

    @property
    def rows(self) -> int:
        return len(self.offsets)

    def row_freqs(self, r: int) -> np.ndarray:
        return self.freqs[self._starts[r]:self._starts[r + 1]]

    def model(self, r: int):
        if not self._models:
            # Exact integers in float64: constriction rescales them deterministically.
            self._models = [constriction.stream.model.Categorical(
                self.row_freqs(i).astype(np.float64), perfect=False) for i in range(self.rows)]
        return self._models[r]

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.offsets": self.offsets.astype(np.int32),
                f"{prefix}.lengths": self.lengths.astype(np.int32),
                f"{prefix}.freqs": self.freqs}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "TableSet":
        return cls(arrays[f"{prefix}.offsets"], arrays[f"{prefix}.lengths"], arrays[f"{prefix}.freqs"])


def _groups(rows: np.ndarray, n_rows: int):
    """Stable order of positions grouped by row, and the (row, start, stop) of each group."""
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=n_rows)
    stops = np.cumsum(counts)
    return order, [(r, stops[r] - counts[r], stops[r]) for r in range(n_rows) if counts[r]]


def _check_rows(rows: np.ndarray, tables: TableSet) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.int64).ravel()
    if rows.size and (rows.min() < 0 or rows.max() >= tables.rows):
        raise ValueError("row index outside the table set")
    return rows


class StreamEncoder:
    """One range-coded stream made of parts, each a set of symbols with their rows; a decoder
    reads the parts back in the same order. A stream of one part is what `encode` writes."""

    def __init__(self):
        self._coder = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, rows: np.ndarray, tables: TableSet) -> None:
        symbols = np.clip(np.asarray(symbols, dtype=np.int64).ravel(), VALUE_MIN, VALUE_MAX)
        rows = _check_rows(rows, tables)
        order, groups = _groups(rows, tables.rows)
        escaped_parts = []
        for r, a, b in groups:
            values = symbols[order[a:b]] - tables.offsets[r]
            outside = (values < 0) | (values >= tables.lengths[r])
            values[outside] = tables.lengths[r]
            self._coder.encode(values.astype(np.int32), tables.model(r))
            escaped_parts.append(symbols[order[a:b]][outside])
        escaped = np.concatenate(escaped_parts) if escaped_parts else np.zeros(0, np.int64)
        if escaped.size:
            self._coder.encode((escaped - VALUE_MIN).astype(np.int32), _UNIFORM)

    def data(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


class StreamDecoder:
    """Reads the parts of a `StreamEncoder` stream; the rows of each part may depend on the
    symbols of the parts before it (that is how a context model decodes)."""

    def __init__(self, data: bytes):
        if len(data) % 4:
            raise DecodeError("entropy stream length is not a multiple of 4 bytes")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        try:
            self._coder = constriction.stream.queue.RangeDecoder(words)
        except Exception as exc:
            raise DecodeError(f"entropy stream is corrupt: {exc}") from None

    def decode(self, rows: np.ndarray, tables: TableSet) -> np.ndarray:
        rows = _check_rows(rows, tables)
        order, groups = _groups(rows, tables.rows)
        symbols = np.empty(rows.size, dtype=np.int64)
        try:
            escape_parts = []
            for r, a, b in groups:
                values = np.asarray(self._coder.decode(tables.model(r), int(b - a)), dtype=np.int64)
                pos = order[a:b]
                symbols[pos] = values + tables.offsets[r]
                escape_parts.append(pos[values == tables.lengths[r]])
            escape_positions = np.concatenate(escape_parts) if escape_parts else np.zeros(0, np.int64)
            if len(escape_positions):
                values = np.asarray(self._coder.decode(_UNIFORM, len(escape_positions)), dtype=np.int64)
                symbols[escape_positions] = values + VALUE_MIN
        except DecodeError:
            raise
        except Exception as exc:  # constriction reports corrupt input as ValueError/AssertionError
            raise DecodeError(f"entropy stream is corrupt: {exc}") from None
        return symbols


_UNIFORM = constriction.stream.model.Uniform(VALUE_MAX - VALUE_MIN + 1)


def encode(symbols: np.ndarray, rows: np.ndarray, tables: TableSet) -> bytes:
    """Integer symbols, each with its table row, -> bytes (a stream of one part)."""
    encoder = StreamEncoder()
    encoder.encode(symbols, rows, tables)
    return encoder.data()


def decode(data: bytes, rows: np.ndarray, tables: TableSet) -> np.ndarray:
    """Inverse of `encode`: bytes and the rows of every position -> int64 symbols."""
    return StreamDecoder(data).decode(rows, tables)
