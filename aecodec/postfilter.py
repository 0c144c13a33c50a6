"""Adaptive post-filter: a small linear filter on the decoded pixels, fitted per image by the
encoder and sent in the file (the adaptive loop filter of VVC does the same for a block codec).

The synthesis transform is trained to be good on average over many images. For one image, the
filter that best maps its decoded pixels to the original (least squares, a Wiener filter)
removes part of the remaining error: 0.11-0.16 dB on Kodak for about 100 bytes (the byte
layout is "PFLT" in docs/FORMAT.md; `python -m bench postfilter` measures it, and bench/README.md
has the design measurements). Fitting needs the decoded image, i.e. a synthesis pass in the
encoder, so only efforts 1-4 (aecodec.efforts) fit one.

Shape of the filter. Output channel c is the decoded channel plus a correction, a weighted sum
of features that are all zero on a flat area:
  - second differences x_c[p+o] + x_c[p-o] - 2 x_c[p] of channel c over the offsets o of a
    diamond of radius `radius` (point-symmetric taps: half the weights of a free filter, and
    on Kodak nearly all of its gain);
  - for each other channel d (when `cross` > 0): x_d[p] - x_c[p], and x_d's second differences
    over a diamond of radius `cross` - 1;
  - a constant (the bias).
Zero on flat areas, the features keep the rounding of the weights from shifting levels.

Exactness. Weights are integers in units of 2**-precision and the decoder applies them in int32
after checking on read that no sum can overflow, so every machine, thread count, strip height
and region decode gives the same pixels.

This module is the format (what a filter is, its bytes and its checks) and imports only the
standard library, as the container that parses it; aecodec.wiener fits and applies filters.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import FormatError

MAX_RADIUS = 6
MAX_CROSS = 4  # cross-channel terms: 0 none, 1 the centre differences, r + 1 a diamond of radius r
MAX_PRECISION = 14
MAX_GOLOMB_ORDER = 20
_MAX_PREFIX = 30  # Exp-Golomb prefix zeros: bounds a weight's magnitude at about 2**31
_INT32_LIMIT = 2**31 - 1


def _diamond_half(radius: int) -> list[tuple[int, int]]:
    """One offset of each point-symmetric pair (o, -o) in the diamond |dy| + |dx| <= radius."""
    return [(dy, dx) for dy in range(radius + 1) for dx in range(-radius, radius + 1)
            if (dy > 0 or dx > 0) and abs(dy) + abs(dx) <= radius]


@dataclass(frozen=True)
class PostFilter:
    radius: int  # own-channel diamond
    cross: int  # 0: no cross-channel terms; 1: centre differences; r + 1: plus a diamond of radius r
    precision: int  # weights are in units of 2**-precision
    weights: tuple[tuple[int, ...], ...]  # per output channel: features in layout() order, bias last

    @property
    def margin(self) -> int:
        """Pixels of context the filter reads on each side of an output pixel."""
        return max(self.radius, self.cross - 1, 0)

    def layout(self, c: int) -> list[tuple[int, str, tuple[int, int]]]:
        """Features of output channel c as (source channel, kind, offset), kind "second"
        (second difference) or "diff" (x_d - x_c at p); the bias follows them."""
        out = [(c, "second", o) for o in _diamond_half(self.radius)]
        if self.cross:
            for d in range(3):
                if d != c:
                    out.append((d, "diff", (0, 0)))
                    out += [(d, "second", o) for o in _diamond_half(self.cross - 1)]
        return out

    def taps(self) -> tuple[dict, list[int]]:
        """The filter as integer taps on the pixels, {(out channel, in channel, dy, dx): tap}
        with offsets from the output pixel, and the biases: correction_c =
        sum(tap * x_in[p + (dy, dx)]) + bias_c, in units of 2**-precision."""
        taps: dict[tuple[int, int, int, int], int] = {}

        def add(key, value):
            taps[key] = taps.get(key, 0) + value

        for c in range(3):
            for (d, kind, (dy, dx)), w in zip(self.layout(c), self.weights[c]):
                if kind == "diff":
                    add((c, d, 0, 0), w)
                    add((c, c, 0, 0), -w)
                else:
                    add((c, d, dy, dx), w)
                    add((c, d, -dy, -dx), w)
                    add((c, d, 0, 0), -2 * w)
        return taps, [w[-1] for w in self.weights]

    def describe(self) -> str:
        """One line for people: the shape and the number of weights."""
        cross = {0: "no cross-channel terms", 1: "cross-channel differences"}.get(
            self.cross, f"cross-channel diamond of radius {self.cross - 1}")
        return (f"diamond of radius {self.radius}, {cross}, "
                f"{sum(len(w) for w in self.weights)} weights")

    def check_shape(self) -> None:
        """FormatError unless radius, cross and precision are in range."""
        if not (1 <= self.radius <= MAX_RADIUS and 0 <= self.cross <= MAX_CROSS
                and 1 <= self.precision <= MAX_PRECISION):
            raise FormatError(f"PFLT shape out of range (radius {self.radius}, cross {self.cross}, "
                              f"precision {self.precision})")

    def check(self) -> None:
        """FormatError unless the fields are in range and int32 arithmetic cannot overflow."""
        self.check_shape()
        if len(self.weights) != 3 or any(len(w) != len(self.layout(c)) + 1
                                         for c, w in enumerate(self.weights)):
            raise FormatError("PFLT holds the wrong number of weights for its shape")
        # each weight first: a bound on the weights keeps the sums below small
        if any(abs(v) > _INT32_LIMIT for w in self.weights for v in w):
            raise FormatError("PFLT weights are too large for exact 32-bit arithmetic")
        taps, bias = self.taps()
        worst = [255 * sum(abs(t) for (c, *_), t in taps.items() if c == out)
                 + abs(bias[out]) + 2 ** (self.precision - 1) for out in range(3)]
        if max(worst) > _INT32_LIMIT:
            raise FormatError("PFLT weights are too large for exact 32-bit arithmetic")

    # -- bytes -----------------------------------------------------------------------------------
    def pack(self) -> bytes:
        """PFLT payload: radius, cross, precision and Exp-Golomb order (a byte each), then the
        weights as signed Exp-Golomb codes, most significant bit first, zero-padded to a byte.
        The order is the one that makes the payload shortest."""
        values = [v for w in self.weights for v in w]
        order = min(range(MAX_GOLOMB_ORDER + 1), key=lambda k: sum(_golomb_bits(v, k) for v in values))
        bits = _BitWriter()
        for v in values:
            bits.signed_golomb(v, order)
        return bytes((self.radius, self.cross, self.precision, order)) + bits.getvalue()


def unpack(payload: bytes) -> PostFilter:
    """The filter in a PFLT payload; FormatError for anything malformed."""
    if len(payload) < 4:
        raise FormatError(f"PFLT chunk too short ({len(payload)} bytes)")
    radius, cross, precision, order = payload[:4]
    if order > MAX_GOLOMB_ORDER:
        raise FormatError(f"PFLT Exp-Golomb order {order} is above {MAX_GOLOMB_ORDER}")
    shape = PostFilter(radius, cross, precision, ((),) * 3)
    shape.check_shape()
    reader = _BitReader(bytes(payload[4:]))
    weights = tuple(tuple(reader.signed_golomb(order) for _ in range(len(shape.layout(c)) + 1))
                    for c in range(3))
    reader.finish()
    pf = PostFilter(radius, cross, precision, weights)
    pf.check()
    return pf


# --------------------------------------------------------------------------- Exp-Golomb codes


def _zigzag(v: int) -> int:
    """Signed to unsigned: 0, 1, -1, 2, -2 ... -> 0, 1, 2, 3, 4 ..."""
    return 2 * v - 1 if v > 0 else -2 * v


def _unzigzag(u: int) -> int:
    return (u + 1) // 2 if u & 1 else -(u // 2)


def _golomb_bits(v: int, k: int) -> int:
    return 2 * ((_zigzag(v) >> k) + 1).bit_length() - 1 + k


class _BitWriter:
    def __init__(self):
        self.bits: list[int] = []

    def write(self, value: int, count: int) -> None:
        self.bits += [(value >> i) & 1 for i in range(count - 1, -1, -1)]

    def signed_golomb(self, v: int, k: int) -> None:
        u = _zigzag(v)
        q = (u >> k) + 1
        n = q.bit_length()
        self.write(0, n - 1)
        self.write(q, n)
        self.write(u & ((1 << k) - 1), k)

    def getvalue(self) -> bytes:
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


class _BitReader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def bit(self) -> int:
        if self.pos >= 8 * len(self.data):
            raise FormatError("PFLT chunk ends inside its weights")
        b = (self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return b

    def read(self, count: int) -> int:
        v = 0
        for _ in range(count):
            v = (v << 1) | self.bit()
        return v

    def signed_golomb(self, k: int) -> int:
        zeros = 0
        while not self.bit():
            zeros += 1
            if zeros > _MAX_PREFIX:
                raise FormatError("PFLT holds an Exp-Golomb code that is too long")
        q = (1 << zeros) | self.read(zeros)
        u = ((q - 1) << k) | self.read(k)
        return _unzigzag(u)

    def finish(self) -> None:
        """The padding after the last code must be under a byte and all zero."""
        rest = 8 * len(self.data) - self.pos
        if rest >= 8 or self.read(rest):
            raise FormatError("PFLT chunk has data after its weights")
