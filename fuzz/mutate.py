"""Hostile inputs, each a pure function of (seed, index, corpus), so any input can be replayed.

Kinds (`KINDS` holds the relative shares of all but truncate):
- truncate (every 10th input): a real file cut at one offset; input 10*n cuts at offset n of
  a sweep over every offset of every corpus file, so a run of 10x the corpus size covers all.
- bitflip / byteset / insdel: random bit flips, bytes set to random or boundary values, and
  inserted, deleted or duplicated byte ranges, with the CRCs left broken (the parser must
  report the damaged chunk) ...
- ... and the same with "+crc": every CRC recomputed afterwards, so the damage reaches the
  header validation, the stream bounds and the range decoder.
- stream: ZSTR / YSTR / ALPH / TIDX / PFLT and metadata payloads replaced, cut, extended,
  garbled or swapped, with consistent lengths and CRCs (the entropy decoder and the alpha
  inflater proper); a PFLT may also be replaced by a well-formed filter of random shape and
  weights up to the format's limits and beyond (the bound checks and the filter itself).
- header: HEAD rebuilt field by field with extremes (0 and 2**32-1 sizes, unknown modes,
  coders, versions, model ids and hashes, tile fields, length mismatches), valid CRC.
- chunks: chunks dropped, repeated, reordered, spliced between files, unknown critical and
  optional chunks, lengths claiming up to 4 GiB, trailing data, concatenated files.
- random: random bytes, alone or after a valid signature and version.
"""
from __future__ import annotations

import random
import string
import struct
import zlib

from aecodec import container, postfilter

SIG = container.SIGNATURE
PRE = len(SIG) + 2
HEAD_FIXED = struct.Struct("<IIBHBHH8sB")
INTERESTING_U8 = (0x00, 0x01, 0x02, 0x03, 0x04, 0x0F, 0x10, 0x3F, 0x40, 0x7F, 0x80, 0xFE, 0xFF)
INTERESTING_U32 = (0, 1, 2, 3, 4, 15, 16, 17, 63, 64, 65, 255, 256, 4095, 4096, 65535, 65536,
                   0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFF0, 0xFFFF_FFFE, 0xFFFF_FFFF)
SIZES = (0, 1, 2, 3, 15, 16, 17, 63, 64, 65, 127, 128, 255, 256, 1000, 4096, 65535, 65536,
         0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF)

TRUNCATE_EVERY = 10  # every 10th input is a truncation: input 10*n cuts at sweep offset n
KINDS = {  # the other kinds -> relative share
    "bitflip": 80, "bitflip+crc": 160,
    "byteset": 60, "byteset+crc": 110,
    "insdel": 50, "insdel+crc": 90,
    "stream": 150,
    "header": 150,
    "chunks": 90,
    "random": 60,
}
_NAMES = list(KINDS)
_CUM = []
_total = 0
for _k in _NAMES:
    _total += KINDS[_k]
    _CUM.append(_total)
ALL_KINDS = ("truncate", *_NAMES)


# ----------------------------------------------------------------------------- chunk helpers


def chunk(ctype: bytes, payload: bytes, length: int | None = None, crc: int | None = None) -> bytes:
    """A raw chunk; `length` and `crc` may lie."""
    if crc is None:
        crc = zlib.crc32(payload, zlib.crc32(ctype))
    n = len(payload) if length is None else length
    return struct.pack("<4sI", ctype, n) + payload + struct.pack("<I", crc & 0xFFFF_FFFF)


def split(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Preamble and (type, payload) of every chunk of a well-formed file."""
    pos, out = PRE, []
    while pos + 8 <= len(data):
        ctype, n = struct.unpack_from("<4sI", data, pos)
        out.append((ctype, data[pos + 8: pos + 8 + n]))
        pos += 12 + n
    return data[:PRE], out


def join(preamble: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    return preamble + b"".join(chunk(t, p) for t, p in chunks)


def fix_crcs(data: bytes) -> bytes:
    """Recompute the CRC of every chunk that lies inside the data (lengths as found)."""
    buf = bytearray(data)
    pos = PRE
    while pos + 8 <= len(buf):
        (n,) = struct.unpack_from("<I", buf, pos + 4)
        end = pos + 8 + n
        if end + 4 > len(buf):
            break
        crc = zlib.crc32(bytes(buf[pos + 8: end]), zlib.crc32(bytes(buf[pos: pos + 4])))
        struct.pack_into("<I", buf, end, crc)
        pos = end + 4
    return bytes(buf)


def _length_offsets(data: bytes) -> list[int]:
    """Offsets of the chunk length fields of a well-formed file (to aim byte sets at them)."""
    pos, out = PRE, []
    while pos + 8 <= len(data):
        out.append(pos + 4)
        (n,) = struct.unpack_from("<I", data, pos + 4)
        pos += 12 + n
    return out


def _rand_bytes(rng: random.Random, n: int) -> bytes:
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


# ----------------------------------------------------------------------------- mutations


def bitflip(rng, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 8, 16))):
        i = rng.randrange(len(buf) * 8)
        buf[i // 8] ^= 1 << (i % 8)
    return bytes(buf)


def byteset(rng, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        r = rng.random()
        if r < 0.35:  # a 32-bit boundary value, often over a chunk length or a HEAD size field
            offsets = _length_offsets(data) + [PRE + 8, PRE + 12]
            pos = rng.choice(offsets) if rng.random() < 0.6 else rng.randrange(max(1, len(buf) - 3))
            value = rng.choice(INTERESTING_U32) if rng.random() < 0.8 else rng.getrandbits(32)
            buf[pos: pos + 4] = struct.pack("<I", value)[: max(0, len(buf) - pos)]
        else:
            pos = rng.randrange(len(buf))
            buf[pos] = rng.choice(INTERESTING_U8) if r < 0.7 else rng.randrange(256)
    return bytes(buf[: len(data)])


def insdel(rng, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        pos = rng.randrange(len(buf) + 1)
        n = rng.choice((1, 1, 2, 3, 4, 7, 8, 16, 64, 300))
        r = rng.random()
        if r < 0.35:
            buf[pos:pos] = _rand_bytes(rng, n)
        elif r < 0.7:
            del buf[pos: pos + n]
        else:  # duplicate a slice elsewhere
            a = rng.randrange(len(buf) + 1)
            buf[pos:pos] = buf[a: a + n]
        if not buf:
            break
    return bytes(buf)


def _garble(rng, payload: bytes, other: bytes) -> bytes:
    n = len(payload)
    op = rng.randrange(11)
    if op == 0:
        return b""
    if op == 1:  # cut, anywhere (also not a multiple of 4)
        return payload[: rng.randrange(n + 1)]
    if op == 2:
        return payload + bytes(rng.choice((1, 3, 4, 64, 4 * n + 8)))
    if op == 3:
        return payload + b"\xff" * rng.choice((1, 4, 8, 256))
    if op == 4:
        return _rand_bytes(rng, rng.choice((n, 4, 8, max(0, n - 4), n + 4, 2 * n)))
    if op == 5:
        return other  # the other stream, or a stream from another file
    if op == 6:
        return bitflip(rng, payload) if payload else payload
    if op == 7:
        return byteset(rng, payload) if payload else payload
    if op == 8:
        return payload[: n // 2] + _rand_bytes(rng, n - n // 2)
    if op == 9:
        return b"\x00" * n
    return b"\xff" * n


_ZLIB_CHUNKS = (b"ALPH", b"iCCP", b"eXIf", b"xMPd")


def stream(rng, data: bytes, corpus: list[bytes]) -> bytes:
    pre, chunks = split(data)
    _, donor = split(rng.choice(corpus))
    kinds = (b"TIDX", b"PFLT", b"ZSTR", b"YSTR", b"ALPH", b"iCCP", b"eXIf", b"xMPd")
    donor_payloads = [p for t, p in donor if t in kinds]
    targets = [i for i, (t, _) in enumerate(chunks) if t in kinds]
    for i in rng.sample(targets, rng.choice((1, 1, 1, 2))):
        t, p = chunks[i]
        if t in _ZLIB_CHUNKS and rng.random() < 0.5:  # valid zlib of the wrong size, or a bomb
            n = rng.choice((0, 1, 5, 1000, 1 << 20, (1 << 24) + 1))
            chunks[i] = (t, zlib.compress(bytes(n)) if rng.random() < 0.5 else zlib.compress(p))
            continue
        if t == b"PFLT" and rng.random() < 0.5:
            chunks[i] = (t, _random_filter(rng))
            continue
        chunks[i] = (t, _garble(rng, p, rng.choice(donor_payloads)))
    return join(pre, chunks)


def _random_filter(rng) -> bytes:
    """A well-formed PFLT payload: any shape the format allows, weights from zero to past the
    int32 bound (the reader must refuse those, and apply the rest without overflow)."""
    shape = postfilter.PostFilter(rng.randint(1, postfilter.MAX_RADIUS),
                                  rng.randint(0, postfilter.MAX_CROSS),
                                  rng.randint(1, postfilter.MAX_PRECISION), ((),) * 3)
    scale = rng.choice((0, 1, 100, 10_000, 1 << 20, 1 << 40))
    weights = tuple(tuple(rng.randint(-scale, scale) for _ in range(len(shape.layout(c)) + 1))
                    for c in range(3))
    return postfilter.PostFilter(shape.radius, shape.cross, shape.precision, weights).pack()


def _model_id(rng, real: bytes) -> bytes:
    r = rng.randrange(8)
    if r < 3:
        return real
    if r == 3:
        return b""
    if r == 4:
        return b"x" * rng.choice((64, 65, 255))
    if r == 5:
        return _rand_bytes(rng, rng.randrange(1, 70))  # non-ASCII, control characters
    if r == 6:
        return real[:-1] + b"?" if real else b"?"
    alphabet = string.ascii_letters + string.digits + "-_. "
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 65))).encode()


def header(rng, data: bytes, corpus: list[bytes]) -> bytes:
    pre, chunks = split(data)
    w, h, mode, q, coder, tw, th, whash, idlen = HEAD_FIXED.unpack_from(chunks[0][1])
    real_id = chunks[0][1][HEAD_FIXED.size: HEAD_FIXED.size + idlen]

    def size(orig):
        r = rng.random()
        if r < 0.4:
            return rng.choice(SIZES)
        if r < 0.7:
            return max(0, min(0xFFFF_FFFF, orig + rng.choice((-64, -16, -1, 1, 15, 16, 64, 1000))))
        if r < 0.85:
            return orig * rng.choice((2, 4, 16, 256)) & 0xFFFF_FFFF
        return rng.getrandbits(rng.choice((8, 12, 16, 20, 32)))

    mid = real_id
    fields = ("width", "height", "size", "mode", "quality", "coder", "tile", "hash", "id", "idlen",
              "version", "cut")
    chosen = rng.sample(fields, rng.choice((1, 1, 1, 2, 3)))
    for field in chosen:
        if field in ("width", "size"):
            w = size(w)
        if field in ("height", "size"):
            h = size(h)
        if field == "mode":
            mode = rng.choice((0, 1, 2, 3, 4, 127, 255))
        elif field == "quality":
            q = rng.choice((0, 1, 5000, 9999, 10000, 10001, 65535, rng.randrange(65536)))
        elif field == "coder":
            coder = rng.choice((0, 2, 255))
        elif field == "tile":
            tw, th = rng.choice(((16, 16), (0, 16), (16, 0), (65535, 65535), (64, 64), (0, 0),
                                 (128, 128), (64, 128), (1024, 1024), (65472, 64)))
        elif field == "hash":
            whash = rng.choice((bytes(8), b"\xff" * 8, _rand_bytes(rng, 8)))
        elif field == "id":
            mid = _model_id(rng, real_id)
    idlen = len(mid) & 0xFF
    if "idlen" in chosen:
        idlen = rng.choice((0, 1, 64, 65, 255, max(0, len(mid) - 1), len(mid) + 1)) & 0xFF
    head = HEAD_FIXED.pack(w & 0xFFFF_FFFF, h & 0xFFFF_FFFF, mode, q, coder, tw, th, whash, idlen) + mid
    version = pre[PRE - 2:]
    if "version" in chosen:  # a newer minor may append fields; other majors must be refused
        version = bytes((rng.choice((0, 1, 1, 1, 2, 255)), rng.choice((0, 1, 7, 255))))
        if rng.random() < 0.5:
            head += _rand_bytes(rng, rng.choice((1, 4, 100)))
    if "cut" in chosen:
        head = head[: rng.randrange(len(head) + 1)]
    chunks[0] = (b"HEAD", head)
    if rng.random() < 0.25:  # streams from another file or garbage
        _, donor = split(rng.choice(corpus))
        chunks = chunks[:1] + donor[1:]
        if rng.random() < 0.3:
            chunks = [(t, p if t in (b"HEAD", b"AEND") else _rand_bytes(rng, len(p))) for t, p in chunks]
    out = pre[: PRE - 2] + version + b"".join(chunk(t, p) for t, p in chunks)
    return out if rng.random() < 0.9 else bitflip(rng, out)


def chunks_op(rng, data: bytes, corpus: list[bytes]) -> bytes:
    pre, chunks = split(data)
    op = rng.randrange(12)
    if op == 0:  # drop one
        del chunks[rng.randrange(len(chunks))]
    elif op == 1:  # repeat one
        i = rng.randrange(len(chunks))
        chunks.insert(rng.randrange(len(chunks) + 1), chunks[i])
    elif op == 2:  # swap two
        i, j = rng.randrange(len(chunks)), rng.randrange(len(chunks))
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif op == 3:  # an unknown chunk, critical or optional, anywhere
        t = rng.choice((b"NEWS", b"TILE", b"meta", b"exIf", b"zzzz", b"A1B2", b"\x00\x00\x00\x00"))
        chunks.insert(rng.randrange(len(chunks) + 1), (t, _rand_bytes(rng, rng.choice((0, 5, 300)))))
    elif op == 4:  # splice: this file's HEAD, another file's streams (or the reverse)
        _, donor = split(rng.choice(corpus))
        chunks = donor[:1] + chunks[1:] if rng.random() < 0.5 else chunks[:1] + donor[1:]
    elif op == 5:  # a chunk whose length claims far more than is there
        i = rng.randrange(len(chunks))
        t, p = chunks[i]
        raw = [chunk(tt, pp) for tt, pp in chunks]
        raw[i] = chunk(t, p, length=rng.choice((len(p) + 1, len(p) + 4, 0x7FFF_FFFF, 0xFFFF_FFFF)))
        return pre + b"".join(raw)
    elif op == 6:  # trailing data, or two files back to back
        return join(pre, chunks) + (rng.choice(corpus) if rng.random() < 0.5 else _rand_bytes(rng, 7))
    elif op == 7:  # AEND early, with the rest after it
        i = next(k for k, (t, _) in enumerate(chunks) if t == b"AEND")
        chunks.insert(rng.randrange(1, len(chunks)), chunks.pop(i))
    elif op == 8:  # AEND with a payload
        chunks[-1] = (b"AEND", _rand_bytes(rng, rng.choice((1, 4))))
    elif op == 9:  # ALPH added to a mode without alpha, or removed from one with it
        if any(t == b"ALPH" for t, _ in chunks):
            chunks = [c for c in chunks if c[0] != b"ALPH"]
        else:
            chunks.insert(-1, (b"ALPH", zlib.compress(bytes(rng.choice((0, 10, 3072))))))
    elif op == 10:  # many empty optional chunks (a cheap file that is long to walk)
        chunks[1:1] = [(b"padA", b"")] * rng.choice((10, 1000))
    else:  # chunk types with lowercase / invalid letters
        i = rng.randrange(len(chunks))
        t, p = chunks[i]
        chunks[i] = (bytes(c ^ 0x20 if rng.random() < 0.5 else c for c in t), p)
    return join(pre, chunks)


def random_bytes(rng, corpus: list[bytes]) -> bytes:
    r = rng.random()
    n = rng.choice((0, 1, 7, 8, 9, 10, 11, 30, 64, 200, 1000))
    if r < 0.4:
        return _rand_bytes(rng, n)
    if r < 0.6:
        return SIG[: rng.randrange(len(SIG) + 1)] + _rand_bytes(rng, n)
    if r < 0.8:
        return SIG + bytes((1, 0)) + _rand_bytes(rng, n)
    # valid framing, random chunks
    parts = [SIG, bytes((1, 0))]
    for _ in range(rng.randrange(1, 6)):
        t = rng.choice((b"HEAD", b"ZSTR", b"YSTR", b"ALPH", b"AEND", b"meta"))
        parts.append(chunk(t, _rand_bytes(rng, rng.choice((0, 1, 25, 33, 40)))))
    return b"".join(parts)


# ----------------------------------------------------------------------------- entry point


def truncations(corpus: list[bytes]) -> int:
    return sum(len(d) for d in corpus)


def _nth_truncation(corpus: list[bytes], n: int) -> bytes:
    n %= truncations(corpus)
    for d in corpus:
        if n < len(d):
            return d[:n]
        n -= len(d)
    raise AssertionError("unreachable")


def kind_of(seed: int, index: int) -> str:
    if index % TRUNCATE_EVERY == 0:
        return "truncate"
    x = random.Random(f"kind:{seed}:{index}").randrange(_total)
    return next(k for k, c in zip(_NAMES, _CUM) if x < c)


def generate(seed: int, index: int, corpus: list[bytes], kind: str | None = None) -> tuple[str, bytes]:
    """(kind, input) number `index` of the run with `seed`; `kind` forces one kind."""
    kind = kind or kind_of(seed, index)
    rng = random.Random(f"{seed}:{index}")
    if kind == "truncate":  # a sweep: every offset of every corpus file, in order, then again
        return kind, _nth_truncation(corpus, index // TRUNCATE_EVERY)
    data = rng.choice(corpus)
    base = kind.split("+")[0]
    if base == "bitflip":
        out = bitflip(rng, data)
    elif base == "byteset":
        out = byteset(rng, data)
    elif base == "insdel":
        out = insdel(rng, data)
    elif kind == "stream":
        out = stream(rng, data, corpus)
    elif kind == "header":
        out = header(rng, data, corpus)
    elif kind == "chunks":
        out = chunks_op(rng, data, corpus)
    elif kind == "random":
        out = random_bytes(rng, corpus)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    if kind.endswith("+crc"):
        out = fix_crcs(out)
    return kind, out
