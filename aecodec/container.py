"""Reading and writing the .aec container (the byte layout is specified in docs/FORMAT.md).

The container only frames data: a header, the two entropy-coded streams, an optional lossless
alpha plane, an optional post-filter (parsed and checked by aecodec.postfilter) and optional
metadata (ICC profile, EXIF, XMP) kept as opaque bytes. It never interprets the streams (see
aecodec/entropy.py). Parsing is defensive: every
length is checked against the bytes actually present before slicing, limits are enforced from the
header before anything large is allocated, and every malformed input ends in an AecError subclass.
"""
from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import postfilter, tiling
from .errors import (
    CorruptChunkError,
    FormatError,
    InputError,
    LimitError,
    NotAecFileError,
    TruncatedFileError,
    UnsupportedVersionError,
)

# PNG-style: the high-bit first byte catches 7-bit stripping, CR LF catches newline conversion,
# ^Z stops `type` on DOS, the final LF catches LF -> CR LF conversion.
SIGNATURE = b"\x8bAEC\r\n\x1a\n"
FORMAT_VERSION = (1, 2)  # the newest this module reads and writes; see write_version()
MODES = ("L", "RGB", "RGBA", "LA")
ALPHA_MODES = ("RGBA", "LA")
CODERS = {1: "constriction range coder, categorical tables v1"}
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's Image.MAX_IMAGE_PIXELS
DEFAULT_MAX_DIMENSION = 65_535
MAX_MODEL_ID_LENGTH = 64
WEIGHTS_HASH_LENGTH = 8

_U32_MAX = 0xFFFF_FFFF
_U16_MAX = 0xFFFF
_PREAMBLE_LENGTH = len(SIGNATURE) + 2
_CHUNK_HEAD = struct.Struct("<4sI")  # type, payload length
_CRC = struct.Struct("<I")
# width, height, mode, quality (hundredths), coder, tile w, tile h, weights hash, model id length
_HEAD_FIXED = struct.Struct("<IIBHBHH8sB")
# Metadata rides in optional chunks (lowercase first letter), so every 1.x reader, including
# those older than these chunks, still decodes the image and merely skips them.
METADATA_CHUNKS = {"icc": b"iCCP", "exif": b"eXIf", "xmp": b"xMPd"}
MAX_METADATA_BYTES = 16 * 1024 * 1024  # per item, inflated; far above real profiles and EXIF
_KNOWN_CHUNKS = (b"HEAD", b"TIDX", b"PFLT", b"ZSTR", b"YSTR", b"ALPH", b"AEND",
                 *METADATA_CHUNKS.values())
POSTFILTER_VERSION = (1, 2)  # the version that added PFLT
_TILE_ENTRY = struct.Struct("<II")  # one tile's z and y stream lengths


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    mode: str
    quality: float
    model_id: str
    weights_hash: bytes
    coder: int = 1
    tile_width: int = 0
    tile_height: int = 0


@dataclass(frozen=True)
class AecFile:
    header: Header
    z_stream: bytes
    y_stream: bytes
    alpha: bytes | None  # raw ALPH payload, still zlib-compressed; see unpack_alpha
    version: tuple[int, int]
    chunk_sizes: dict[str, int] = field(default_factory=dict)  # payload bytes per chunk type
    tile_lengths: tuple[tuple[int, int], ...] = ()  # (z, y) stream bytes per tile, from TIDX
    metadata: dict[str, bytes] = field(default_factory=dict)  # "icc"/"exif"/"xmp" -> raw bytes
    postfilter: postfilter.PostFilter | None = None  # from PFLT, applied to the decoded pixels

    @property
    def tiles(self) -> list[tiling.Box]:
        h = self.header
        return tiling.tile_grid(h.width, h.height, h.tile_width, h.tile_height)

    def tile_streams(self) -> list[tuple[bytes, bytes]]:
        """(z stream, y stream) of each tile in raster order; an untiled file is one tile."""
        if not self.tile_lengths:
            return [(self.z_stream, self.y_stream)]
        out, zpos, ypos = [], 0, 0
        for zlen, ylen in self.tile_lengths:
            out.append((self.z_stream[zpos: zpos + zlen], self.y_stream[ypos: ypos + ylen]))
            zpos, ypos = zpos + zlen, ypos + ylen
        return out


def looks_like_aec(prefix: bytes) -> bool:
    """True when `prefix` starts with the .aec signature (Pillow's _accept hook)."""
    return bytes(prefix[: len(SIGNATURE)]) == SIGNATURE


# --------------------------------------------------------------------------- header validation


def _header_problem(h: Header) -> str | None:
    """The first rule `h` breaks, or None. Shared by the writer and the reader."""
    if not (isinstance(h.width, int) and isinstance(h.height, int)):
        return "width and height must be integers"
    if not (0 < h.width <= _U32_MAX and 0 < h.height <= _U32_MAX):
        return f"image size {h.width}x{h.height} is invalid: both sides must be at least 1"
    if h.mode not in MODES:
        return f"unknown mode {h.mode!r}; expected one of {', '.join(MODES)}"
    if not (isinstance(h.quality, (int, float)) and math.isfinite(h.quality)):
        return f"quality must be a finite number, got {h.quality!r}"
    if not 0 <= round(h.quality * 100) <= 10_000:
        return f"quality {h.quality} is outside [0, 100]"
    if h.coder not in CODERS:
        return f"unknown coder id {h.coder!r}; known: {sorted(CODERS)}"
    if not (0 <= h.tile_width <= _U16_MAX and 0 <= h.tile_height <= _U16_MAX):
        return "tile sizes must fit in 16 bits"
    if (h.tile_width == 0) != (h.tile_height == 0):
        return "tile width and height must both be 0 (untiled) or both non-zero"
    if h.tile_width % tiling.ALIGN or h.tile_height % tiling.ALIGN:
        return f"tile sizes must be multiples of {tiling.ALIGN}, got {h.tile_width}x{h.tile_height}"
    if not (isinstance(h.weights_hash, bytes) and len(h.weights_hash) == WEIGHTS_HASH_LENGTH):
        return f"weights hash must be {WEIGHTS_HASH_LENGTH} bytes"
    mid = h.model_id
    if not (isinstance(mid, str) and 1 <= len(mid) <= MAX_MODEL_ID_LENGTH):
        return f"model id must be 1..{MAX_MODEL_ID_LENGTH} characters"
    if not all(" " <= c <= "~" for c in mid):
        return f"model id {mid!r} must be printable ASCII"
    return None


def check_size(width: int, height: int, max_pixels: int | None, max_dimension: int | None) -> None:
    """LimitError when width x height exceeds a limit (None lifts it); encoder and decoder."""
    if max_dimension is not None and max(width, height) > max_dimension:
        raise LimitError(
            f"image is {width}x{height}, a side exceeds max_dimension={max_dimension}; "
            "pass max_dimension=None (or a larger value; command line: --max-dimension N or "
            "--no-limits) if you trust this file"
        )
    if max_pixels is not None and width * height > max_pixels:
        raise LimitError(
            f"image is {width}x{height} = {width * height} pixels, more than "
            f"max_pixels={max_pixels}; pass max_pixels=None (or a larger value; command line: "
            "--max-pixels N or --no-limits) if you trust this file"
        )


def check_limits(h: Header, max_pixels: int | None, max_dimension: int | None) -> None:
    check_size(h.width, h.height, max_pixels, max_dimension)


# --------------------------------------------------------------------------- writing


def _chunk(ctype: bytes, payload: bytes) -> bytes:
    if len(payload) > _U32_MAX:
        raise InputError(f"{ctype.decode()} payload of {len(payload)} bytes exceeds 4 GiB - 1")
    crc = zlib.crc32(payload, zlib.crc32(ctype))
    return _CHUNK_HEAD.pack(ctype, len(payload)) + payload + _CRC.pack(crc)


def _pack_head(h: Header) -> bytes:
    mid = h.model_id.encode("ascii")
    fixed = _HEAD_FIXED.pack(
        h.width, h.height, MODES.index(h.mode), round(h.quality * 100), h.coder,
        h.tile_width, h.tile_height, h.weights_hash, len(mid),
    )
    return fixed + mid


def write_version(header: Header, filtered: bool = False) -> tuple[int, int]:
    """The oldest version that can hold the file: 1.0 unless it is tiled (TIDX came in 1.1) or
    post-filtered (PFLT came in 1.2), so other files stay readable by every 1.x reader."""
    if filtered:
        return POSTFILTER_VERSION
    return (1, 1) if header.tile_width else (1, 0)


def encode_file(header: Header, z_stream: bytes, y_stream: bytes, alpha: bytes | None = None,
                tile_lengths=None, metadata: Mapping[str, bytes] | None = None,
                post: postfilter.PostFilter | None = None) -> bytes:
    """Serialise a complete .aec file. `alpha` is an ALPH payload from pack_alpha, required
    exactly when the mode has an alpha channel. A tiled header needs `tile_lengths`, the
    (z, y) byte lengths of each tile's streams in raster order, which the streams concatenate.
    `metadata` maps "icc", "exif", "xmp" to raw bytes (empty ones are left out); `post` is the
    post-filter the decoder applies, if any. Invalid input raises InputError."""
    problem = _header_problem(header)
    if problem:
        raise InputError(problem)
    tidx = _pack_tile_index(header, len(z_stream), len(y_stream), tile_lengths)
    if (alpha is not None) != (header.mode in ALPHA_MODES):
        raise InputError(f"mode {header.mode} {'needs' if alpha is None else 'takes no'} alpha plane")
    try:
        head = _pack_head(header)
    except (struct.error, TypeError) as e:  # e.g. a float tile size: the caller's mistake
        raise InputError(f"invalid header field: {e}") from None
    parts = [SIGNATURE, bytes(write_version(header, post is not None)), _chunk(b"HEAD", head)]
    if tidx is not None:
        parts.append(_chunk(b"TIDX", tidx))
    if post is not None:
        try:
            post.check()
        except FormatError as e:
            raise InputError(f"invalid post-filter: {e}") from None
        parts.append(_chunk(b"PFLT", post.pack()))
    # before the streams, so a reader that stops early (Pillow's open) still finds them
    parts += [_chunk(METADATA_CHUNKS[key], payload)
              for key, payload in _pack_metadata(metadata or {}).items()]
    parts += [_chunk(b"ZSTR", bytes(z_stream)), _chunk(b"YSTR", bytes(y_stream))]
    if alpha is not None:
        parts.append(_chunk(b"ALPH", bytes(alpha)))
    parts.append(_chunk(b"AEND", b""))
    return b"".join(parts)


def _pack_metadata(metadata: Mapping[str, bytes]) -> dict[str, bytes]:
    unknown = set(metadata) - set(METADATA_CHUNKS)
    if unknown:
        raise InputError(f"unknown metadata {sorted(unknown)}; known: {sorted(METADATA_CHUNKS)}")
    out = {}
    for key in METADATA_CHUNKS:  # a fixed order, so equal input gives equal files
        raw = metadata.get(key)
        if raw is not None and not isinstance(raw, (bytes, bytearray, memoryview)):
            raise InputError(f"metadata {key!r} must be bytes, got {type(raw).__name__}")
        if not raw:
            continue
        if len(raw) > MAX_METADATA_BYTES:
            raise InputError(f"{key} metadata is {len(raw)} bytes, more than the "
                             f"{MAX_METADATA_BYTES} a file may carry")
        out[key] = zlib.compress(bytes(raw), 9)
    return out


def _pack_tile_index(header: Header, z_total: int, y_total: int, tile_lengths) -> bytes | None:
    if not header.tile_width:
        if tile_lengths is not None and len(tile_lengths) != 1:
            raise InputError("an untiled header takes no tile lengths")
        return None
    n = tiling.tile_count(header.width, header.height, header.tile_width, header.tile_height)
    if tile_lengths is None or len(tile_lengths) != n:
        raise InputError(f"a {header.width}x{header.height} image in {header.tile_width}x"
                         f"{header.tile_height} tiles needs {n} tile lengths")
    if (sum(z for z, _ in tile_lengths), sum(y for _, y in tile_lengths)) != (z_total, y_total):
        raise InputError("tile lengths do not add up to the stream lengths")
    return b"".join(_TILE_ENTRY.pack(z, y) for z, y in tile_lengths)


def _parse_tile_index(header: Header, payload: bytes | None, z_total: int, y_total: int):
    if not header.tile_width:
        if payload is not None:
            raise FormatError("TIDX chunk in an untiled file")
        return ()
    if payload is None:
        raise FormatError("tiled file without its TIDX chunk")
    n = tiling.tile_count(header.width, header.height, header.tile_width, header.tile_height)
    if len(payload) != n * _TILE_ENTRY.size:
        raise FormatError(f"TIDX has {len(payload)} bytes, but {n} tiles need {n * _TILE_ENTRY.size}")
    lengths = tuple(_TILE_ENTRY.iter_unpack(payload))
    if (sum(z for z, _ in lengths), sum(y for _, y in lengths)) != (z_total, y_total):
        raise FormatError("TIDX tile lengths do not add up to the ZSTR and YSTR lengths")
    return lengths


# --------------------------------------------------------------------------- reading


def _read_preamble(view: memoryview) -> tuple[int, int]:
    head = bytes(view[: len(SIGNATURE)])
    if not head:
        raise NotAecFileError("empty data: not an .aec file")
    if head != SIGNATURE:
        if len(head) < len(SIGNATURE) and SIGNATURE.startswith(head):
            raise TruncatedFileError("data ends inside the .aec signature")
        if head[1:4] == b"AEC":  # our name but mangled bytes: say how it probably happened
            raise NotAecFileError("damaged .aec signature: was the file transferred in text mode "
                                  "or through a 7-bit channel?")
        raise NotAecFileError("not an .aec file (bad signature)")
    if len(view) < _PREAMBLE_LENGTH:
        raise TruncatedFileError("data ends before the format version")
    major, minor = view[len(SIGNATURE)], view[len(SIGNATURE) + 1]
    if major != FORMAT_VERSION[0]:
        raise UnsupportedVersionError(
            f"format version {major}.{minor} is not supported (this reader knows "
            f"{FORMAT_VERSION[0]}.x); a different aecodec version is needed")
    return major, minor


def check_preamble(prefix: bytes) -> None:
    """Raise the error decode_file would raise for a bad signature or version in `prefix` (the
    first bytes of a file); a prefix too short to tell passes. Lets a reader give up on a file
    that is not .aec before reading all of it."""
    view = memoryview(prefix)
    if len(view) >= _PREAMBLE_LENGTH:
        _read_preamble(view)


def _read_chunk(view: memoryview, pos: int) -> tuple[bytes, memoryview, int]:
    """(type, payload, next position) of the chunk at `pos`, CRC checked."""
    if len(view) - pos < _CHUNK_HEAD.size:
        raise TruncatedFileError(f"data ends inside a chunk header at offset {pos}")
    ctype, length = _CHUNK_HEAD.unpack_from(view, pos)
    start = pos + _CHUNK_HEAD.size
    # compare with what is present instead of trusting the declared length
    if length + _CRC.size > len(view) - start:
        raise TruncatedFileError(f"chunk at offset {pos} declares {length} bytes but the data ends "
                                 "before them")
    payload = view[start: start + length]
    (crc,) = _CRC.unpack_from(view, start + length)
    name = ctype.decode("ascii", "backslashreplace")
    if zlib.crc32(payload, zlib.crc32(ctype)) != crc:
        raise CorruptChunkError(name)
    if not all(65 <= b <= 90 or 97 <= b <= 122 for b in ctype):
        raise FormatError(f"invalid chunk type {name!r} at offset {pos}")
    return ctype, payload, start + length + _CRC.size


def _parse_head(payload: memoryview, version: tuple[int, int]) -> Header:
    if len(payload) < _HEAD_FIXED.size:
        raise FormatError(f"HEAD chunk too short ({len(payload)} bytes)")
    w, h, mode, q, coder, tw, th, whash, idlen = _HEAD_FIXED.unpack_from(payload)
    end = _HEAD_FIXED.size + idlen
    # a newer minor version may append fields; 1.0 files must match exactly
    if len(payload) < end or (version[1] <= FORMAT_VERSION[1] and len(payload) != end):
        raise FormatError(f"HEAD chunk length {len(payload)} does not match its model id length")
    try:
        model_id = bytes(payload[_HEAD_FIXED.size: end]).decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("model id in HEAD is not ASCII") from None
    if mode >= len(MODES):
        raise FormatError(f"unknown mode code {mode} in HEAD")
    if q > 10_000:
        raise FormatError(f"quality {q / 100} in HEAD is above 100")
    header = Header(w, h, MODES[mode], q / 100, model_id, whash, coder, tw, th)
    problem = _header_problem(header)
    if problem:
        raise FormatError(f"invalid HEAD: {problem}")
    return header


def _read_header_at(view: memoryview, max_pixels, max_dimension) -> tuple[Header, tuple[int, int], int]:
    version = _read_preamble(view)
    ctype, payload, pos = _read_chunk(view, _PREAMBLE_LENGTH)
    if ctype != b"HEAD":
        raise FormatError(f"first chunk must be HEAD, found {ctype.decode('ascii', 'replace')!r}")
    header = _parse_head(payload, version)
    check_limits(header, max_pixels, max_dimension)
    return header, version, pos


def read_header(data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                max_dimension: int | None = DEFAULT_MAX_DIMENSION) -> tuple[Header, tuple[int, int]]:
    """Parse only signature, version and HEAD; `data` may be just a prefix of the file
    (111 bytes always hold a 1.x header whose HEAD has no newer-minor fields)."""
    header, version, _ = _read_header_at(memoryview(data), max_pixels, max_dimension)
    return header, version


def decode_file(data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                max_dimension: int | None = DEFAULT_MAX_DIMENSION) -> AecFile:
    """Parse and validate a whole .aec file. A limit of None lifts it."""
    view = memoryview(data)
    header, version, pos = _read_header_at(view, max_pixels, max_dimension)
    found: dict[bytes, bytes] = {}
    sizes: dict[str, int] = {"HEAD": pos - _PREAMBLE_LENGTH - _CHUNK_HEAD.size - _CRC.size}
    while True:
        if pos == len(view):
            raise TruncatedFileError("data ends without the AEND chunk")
        ctype, payload, pos = _read_chunk(view, pos)
        name = ctype.decode("ascii")
        sizes[name] = sizes.get(name, 0) + len(payload)
        if ctype not in _KNOWN_CHUNKS:
            if ctype[0:1].isupper():
                raise FormatError(f"unknown critical chunk {name!r}: a newer aecodec is needed")
            continue  # optional chunk we do not know: skip, as the spec allows
        if ctype in found or ctype == b"HEAD":
            raise FormatError(f"chunk {name} appears more than once")
        found[ctype] = bytes(payload)
        if ctype == b"AEND":
            break
    if found[b"AEND"]:
        raise FormatError("AEND chunk must be empty")
    if pos != len(view):
        raise FormatError(f"{len(view) - pos} bytes of trailing data after AEND")
    for required in (b"ZSTR", b"YSTR"):
        if required not in found:
            raise FormatError(f"required chunk {required.decode()} is missing")
    alpha = found.get(b"ALPH")
    if (alpha is not None) != (header.mode in ALPHA_MODES):
        raise FormatError(f"mode {header.mode} {'requires' if alpha is None else 'forbids'} an ALPH chunk")
    z, y = found[b"ZSTR"], found[b"YSTR"]
    lengths = _parse_tile_index(header, found.get(b"TIDX"), len(z), len(y))
    metadata = {key: unpack_metadata(ctype, found[ctype])
                for key, ctype in METADATA_CHUNKS.items() if ctype in found}
    post = None
    if b"PFLT" in found:
        if version < POSTFILTER_VERSION:
            raise FormatError(f"PFLT chunk in a version {version[0]}.{version[1]} file "
                              f"(PFLT came in {POSTFILTER_VERSION[0]}.{POSTFILTER_VERSION[1]})")
        post = postfilter.unpack(found[b"PFLT"])
    return AecFile(header, z, y, alpha, version, sizes, lengths, metadata, post)


def unpack_metadata(ctype: bytes, payload: bytes) -> bytes:
    """Raw bytes of a metadata chunk (a zlib stream), inflated to at most MAX_METADATA_BYTES."""
    name = ctype.decode("ascii")
    raw = _inflate(payload, MAX_METADATA_BYTES, name)
    if not raw:
        raise FormatError(f"{name} chunk holds no data (writers leave empty metadata out)")
    return raw


def scan_metadata(fp) -> dict[str, bytes]:
    """The metadata of the .aec file open in binary `fp`, read by seeking from chunk to chunk,
    so that the streams are never read (Pillow's open). CRCs are checked on the metadata
    chunks only; decode_file validates the rest."""
    fp.seek(0)
    _read_preamble(memoryview(fp.read(_PREAMBLE_LENGTH)))
    pos = _PREAMBLE_LENGTH
    out: dict[str, bytes] = {}
    kinds = {ctype: key for key, ctype in METADATA_CHUNKS.items()}
    while True:
        head = fp.read(_CHUNK_HEAD.size)
        if len(head) < _CHUNK_HEAD.size:
            raise TruncatedFileError(f"data ends inside a chunk header at offset {pos}")
        ctype, length = _CHUNK_HEAD.unpack(head)
        if ctype == b"AEND":
            return out
        if ctype in kinds:
            chunk = fp.read(length + _CRC.size)
            ctype, payload, _ = _read_chunk(memoryview(head + chunk), 0)
            if kinds[ctype] in out:
                raise FormatError(f"chunk {ctype.decode()} appears more than once")
            out[kinds[ctype]] = unpack_metadata(ctype, bytes(payload))
        else:
            fp.seek(length + _CRC.size, 1)
        pos += _CHUNK_HEAD.size + length + _CRC.size


# --------------------------------------------------------------------------- alpha plane


def pack_alpha(alpha: bytes, width: int, height: int) -> bytes:
    """ALPH payload for a raw uint8 alpha plane of width*height bytes (row-major)."""
    if width <= 0 or height <= 0 or len(alpha) != width * height:
        raise InputError(f"alpha plane has {len(alpha)} bytes, expected {width}x{height}")
    return zlib.compress(bytes(alpha), 9)


def unpack_alpha(payload: bytes, width: int, height: int) -> bytes:
    """Raw alpha plane from an ALPH payload. Output is capped at width*height + 1 bytes, so a
    zlib bomb costs nothing; any size mismatch or broken stream is a FormatError."""
    expected = width * height
    if expected <= 0:
        raise FormatError(f"invalid alpha plane size {width}x{height}")
    out = _inflate(payload, expected, "ALPH")
    if len(out) != expected:
        raise FormatError(f"ALPH chunk does not decompress to exactly {expected} bytes")
    return out


def _inflate(payload: bytes, limit: int, name: str) -> bytes:
    """A complete zlib stream inflated to at most `limit` bytes: a bomb stops one byte past
    the limit, and a broken, unfinished or over-long stream is a FormatError."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(bytes(payload), limit + 1)
    except zlib.error as e:
        raise FormatError(f"{name} chunk is not a valid zlib stream: {e}") from None
    if len(out) > limit:
        raise FormatError(f"{name} chunk inflates to more than {limit} bytes")
    if not d.eof or d.unused_data:
        raise FormatError(f"{name} chunk is not exactly one complete zlib stream")
    return out


__all__ = [
    "SIGNATURE", "FORMAT_VERSION", "MODES", "ALPHA_MODES", "CODERS",
    "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_DIMENSION", "MAX_MODEL_ID_LENGTH", "WEIGHTS_HASH_LENGTH",
    "Header", "AecFile", "encode_file", "decode_file", "read_header", "looks_like_aec",
    "pack_alpha", "unpack_alpha", "METADATA_CHUNKS", "MAX_METADATA_BYTES", "unpack_metadata",
    "scan_metadata", "check_size", "check_limits", "check_preamble", "write_version",
]
