"""The .aec container: round trips, and one test per way a file can be malformed."""
from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aecodec import container as c
from aecodec.errors import (
    AecError,
    CorruptChunkError,
    FormatError,
    InputError,
    LimitError,
    NotAecFileError,
    TruncatedFileError,
    UnsupportedVersionError,
)

HASH = bytes(range(8))
HEADER = c.Header(17, 33, "RGB", 75.5, "mbt-v1", HASH)


def small_file(**kw) -> bytes:
    return c.encode_file(kw.pop("header", HEADER), kw.pop("z", b"zz"), kw.pop("y", b"yyy"), **kw)


def chunk(ctype: bytes, payload: bytes, crc: int | None = None) -> bytes:
    if crc is None:
        crc = zlib.crc32(ctype + payload)
    return struct.pack("<4sI", ctype, len(payload)) + payload + struct.pack("<I", crc)


def split_chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    """Preamble and raw chunks of a valid file, for surgery."""
    pos, chunks = 10, []
    while pos < len(data):
        (length,) = struct.unpack_from("<I", data, pos + 4)
        chunks.append(data[pos: pos + 12 + length])
        pos += 12 + length
    return data[:10], chunks


# ------------------------------------------------------------------------------ round trips

headers = st.builds(
    c.Header,
    width=st.integers(1, 2**32 - 1),
    height=st.integers(1, 2**32 - 1),
    mode=st.sampled_from(c.MODES),
    quality=st.integers(0, 10_000).map(lambda q: q / 100),
    model_id=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64),
    weights_hash=st.binary(min_size=8, max_size=8),
    tile_width=st.just(0),
    tile_height=st.just(0),
)


@settings(max_examples=200, deadline=None)
@given(header=headers, z=st.binary(max_size=64), y=st.binary(max_size=64))
def test_round_trip(header, z, y):
    alpha = c.pack_alpha(b"\x80" * 6, 2, 3) if header.mode in c.ALPHA_MODES else None
    data = c.encode_file(header, z, y, alpha)
    assert c.looks_like_aec(data)
    f = c.decode_file(data, max_pixels=None, max_dimension=None)
    assert (f.header, f.z_stream, f.y_stream, f.alpha, f.version) == (header, z, y, alpha, (1, 0))
    assert f.chunk_sizes["ZSTR"] == len(z) and f.chunk_sizes["YSTR"] == len(y)
    assert c.read_header(data, max_pixels=None, max_dimension=None) == (header, (1, 0))


TILED = c.Header(300, 200, "L", 0.0, "x", HASH, tile_width=256, tile_height=128)
# 300x200 pads to 320x256: 2 columns x 2 rows of tiles
LENGTHS = [(1, 2), (0, 3), (2, 0), (1, 1)]


def test_tiled_file_round_trips_with_its_tile_index():
    data = c.encode_file(TILED, b"zzzz", b"yyyyyy", tile_lengths=LENGTHS)
    assert data[8:10] == bytes((1, 1))  # tiles came in 1.1; untiled files stay 1.0
    f = c.decode_file(data)
    assert f.header == TILED and f.tile_lengths == tuple(LENGTHS)
    assert f.tile_streams() == [(b"z", b"yy"), (b"", b"yyy"), (b"zz", b""), (b"z", b"y")]
    assert [(t.x0, t.y0, t.x1, t.y1) for t in f.tiles] == [
        (0, 0, 256, 128), (256, 0, 320, 128), (0, 128, 256, 256), (256, 128, 320, 256)]


@pytest.mark.parametrize("lengths", [None, LENGTHS[:3], [(1, 2), (0, 3), (2, 0), (1, 2)]])
def test_encoder_rejects_a_wrong_tile_index(lengths):
    with pytest.raises(InputError):
        c.encode_file(TILED, b"zzzz", b"yyyyyy", tile_lengths=lengths)


def _retile(data: bytes, tidx: bytes | None) -> bytes:
    """`data` with its TIDX payload replaced (None: removed), CRCs recomputed."""
    out, pos = [data[:10]], 10
    while pos < len(data):
        ctype, length = struct.unpack_from("<4sI", data, pos)
        payload = data[pos + 8: pos + 8 + length]
        pos += 12 + length
        if ctype == b"TIDX":
            if tidx is None:
                continue
            payload = tidx
        out.append(struct.pack("<4sI", ctype, len(payload)) + payload
                   + struct.pack("<I", zlib.crc32(payload, zlib.crc32(ctype))))
    return b"".join(out)


@pytest.mark.parametrize("tidx,match", [
    (None, "without its TIDX"),
    (struct.pack("<6I", 1, 2, 0, 3, 3, 1), "TIDX has 24 bytes"),
    (struct.pack("<8I", 1, 2, 0, 3, 2, 0, 1, 2), "do not add up"),
])
def test_reader_rejects_a_wrong_tile_index(tidx, match):
    data = _retile(c.encode_file(TILED, b"zzzz", b"yyyyyy", tile_lengths=LENGTHS), tidx)
    with pytest.raises(FormatError, match=match):
        c.decode_file(data)


def test_tile_sizes_must_be_multiples_of_64():
    with pytest.raises(InputError, match="multiples of 64"):
        c.encode_file(c.Header(300, 200, "L", 0.0, "x", HASH, tile_width=96, tile_height=64),
                      b"", b"", tile_lengths=[(0, 0)] * 8)


def test_untiled_file_with_a_tile_index_is_rejected():
    tiled = c.encode_file(TILED, b"zzzz", b"yyyyyy", tile_lengths=LENGTHS)
    tidx = tiled[tiled.index(b"TIDX") + 8: tiled.index(b"TIDX") + 8 + 32]
    plain = bytearray(c.encode_file(c.Header(300, 200, "L", 0.0, "x", HASH), b"zzzz", b"yyyyyy"))
    at = plain.index(b"ZSTR")
    chunk = struct.pack("<4sI", b"TIDX", 32) + tidx + struct.pack("<I", zlib.crc32(tidx, zlib.crc32(b"TIDX")))
    with pytest.raises(FormatError, match="untiled"):
        c.decode_file(bytes(plain[:at]) + chunk + bytes(plain[at:]))


def test_read_header_works_on_prefix():
    data = small_file(y=b"y" * 10_000)
    assert c.read_header(data[:111]) == (HEADER, (1, 0))


def test_alpha_pack_unpack():
    plane = bytes(i % 256 for i in range(17 * 33))
    payload = c.pack_alpha(plane, 17, 33)
    assert c.unpack_alpha(payload, 17, 33) == plane
    rgba = c.Header(17, 33, "RGBA", 50, "m", HASH)
    f = c.decode_file(c.encode_file(rgba, b"z", b"y", payload))
    assert c.unpack_alpha(f.alpha, 17, 33) == plane


def test_alpha_size_mismatch_and_bomb():
    with pytest.raises(InputError):
        c.pack_alpha(b"\0" * 5, 2, 3)
    with pytest.raises(FormatError):  # too short
        c.unpack_alpha(zlib.compress(b"\0" * 5), 2, 3)
    with pytest.raises(FormatError):  # an 8 MiB bomb is stopped after 7 bytes of output
        c.unpack_alpha(zlib.compress(b"\0" * (8 << 20)), 2, 3)
    with pytest.raises(FormatError):
        c.unpack_alpha(b"not zlib", 2, 3)
    with pytest.raises(FormatError):  # stream cut short
        c.unpack_alpha(zlib.compress(b"\1" * 6)[:-3], 2, 3)
    with pytest.raises(FormatError):  # trailing garbage after the stream
        c.unpack_alpha(zlib.compress(b"\1" * 6) + b"x", 2, 3)


def test_alpha_presence_must_match_mode():
    with pytest.raises(InputError):
        c.encode_file(c.Header(2, 3, "RGBA", 50, "m", HASH), b"", b"")
    with pytest.raises(InputError):
        c.encode_file(HEADER, b"", b"", c.pack_alpha(b"\0" * 561, 17, 33))


@pytest.mark.parametrize("field,value", [
    ("width", 0), ("mode", "CMYK"), ("quality", 100.01), ("quality", float("nan")),
    ("model_id", ""), ("model_id", "x" * 65), ("model_id", "é"), ("weights_hash", b"short"),
    ("coder", 7), ("tile_width", 16), ("tile_width", 1.5),
])
def test_encoder_rejects_invalid_header(field, value):
    h = c.Header(**{**HEADER.__dict__, field: value})
    with pytest.raises(InputError):
        c.encode_file(h, b"", b"")


# ------------------------------------------------------------------------------ errors


def test_error_hierarchy():
    for e in (NotAecFileError, UnsupportedVersionError, TruncatedFileError, CorruptChunkError):
        assert issubclass(e, FormatError)
    for e in (FormatError, LimitError, InputError):
        assert issubclass(e, AecError)


def test_empty():
    with pytest.raises(NotAecFileError):
        c.decode_file(b"")


def test_wrong_magic():
    with pytest.raises(NotAecFileError):
        c.decode_file(b"\x89PNG\r\n\x1a\n" + small_file()[8:])
    assert not c.looks_like_aec(b"\x89PNG\r\n\x1a\n")


def test_text_mode_damage_is_explained():
    damaged = small_file().replace(b"\r\n", b"\n", 1)
    with pytest.raises(NotAecFileError, match="text mode"):
        c.decode_file(damaged)


def test_unknown_major_version():
    data = bytearray(small_file())
    data[8] = 2
    with pytest.raises(UnsupportedVersionError):
        c.decode_file(bytes(data))


def test_higher_minor_is_accepted_with_appended_head_fields():
    pre, chunks = split_chunks(small_file())
    head = chunks[0][8:-4] + b"future field"
    data = pre[:9] + b"\x07" + chunk(b"HEAD", head) + b"".join(chunks[1:])
    f = c.decode_file(data)
    assert f.version == (1, 7) and f.header == HEADER


def test_head_length_must_be_exact_in_1_0():
    pre, chunks = split_chunks(small_file())
    data = pre + chunk(b"HEAD", chunks[0][8:-4] + b"x") + b"".join(chunks[1:])
    with pytest.raises(FormatError):
        c.decode_file(data)


def test_truncation_at_every_offset():
    data = c.encode_file(c.Header(2, 3, "LA", 1, "m", HASH), b"zz", b"yyy", c.pack_alpha(b"a" * 6, 2, 3))
    for n in range(len(data)):
        with pytest.raises(FormatError) as info:
            c.decode_file(data[:n])
        assert n == 0 or info.type is TruncatedFileError, n


def test_chunk_length_beyond_data_does_not_allocate():
    pre, chunks = split_chunks(small_file())
    evil = chunks[1][:4] + struct.pack("<I", 0xFFFF_FFF0) + chunks[1][8:]
    with pytest.raises(TruncatedFileError):
        c.decode_file(pre + chunks[0] + evil + b"".join(chunks[2:]))


@pytest.mark.parametrize("index,name", [(0, "HEAD"), (1, "ZSTR"), (2, "YSTR")])
def test_crc_corruption_names_chunk(index, name):
    pre, chunks = split_chunks(small_file())
    bad = bytearray(chunks[index])
    bad[9] ^= 0x01  # a payload byte
    chunks[index] = bytes(bad)
    with pytest.raises(CorruptChunkError, match=name) as info:
        c.decode_file(pre + b"".join(chunks))
    assert info.value.chunk == name


def test_unknown_critical_chunk():
    pre, chunks = split_chunks(small_file())
    with pytest.raises(FormatError, match="critical"):
        c.decode_file(pre + chunks[0] + chunk(b"NEWS", b"abc") + b"".join(chunks[1:]))


def test_unknown_optional_chunk_skipped():
    pre, chunks = split_chunks(small_file())
    f = c.decode_file(pre + chunks[0] + chunk(b"meta", b"hello") + b"".join(chunks[1:]))
    assert f.header == HEADER and f.chunk_sizes["meta"] == 5


def test_invalid_chunk_type():
    pre, chunks = split_chunks(small_file())
    with pytest.raises(FormatError):
        c.decode_file(pre + chunks[0] + chunk(b"m3t@", b"") + b"".join(chunks[1:]))


def test_first_chunk_must_be_head():
    pre, chunks = split_chunks(small_file())
    with pytest.raises(FormatError, match="HEAD"):
        c.decode_file(pre + chunks[1] + chunks[0] + b"".join(chunks[2:]))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_duplicate_chunk(index):
    pre, chunks = split_chunks(small_file())
    chunks.insert(index + 1, chunks[index])
    with pytest.raises(FormatError, match="more than once"):
        c.decode_file(pre + b"".join(chunks))


def test_missing_required_stream():
    pre, chunks = split_chunks(small_file())
    with pytest.raises(FormatError, match="YSTR"):
        c.decode_file(pre + chunks[0] + chunks[1] + chunks[3])


def test_trailing_data():
    with pytest.raises(FormatError, match="trailing"):
        c.decode_file(small_file() + b"\0")


def test_missing_aend():
    pre, chunks = split_chunks(small_file())
    with pytest.raises(TruncatedFileError, match="AEND"):
        c.decode_file(pre + b"".join(chunks[:-1]))


def test_nonempty_aend():
    pre, chunks = split_chunks(small_file())
    with pytest.raises(FormatError):
        c.decode_file(pre + b"".join(chunks[:-1]) + chunk(b"AEND", b"x"))


def test_limits():
    huge = c.Header(60_000, 60_000, "RGB", 50, "m", HASH)
    data = c.encode_file(huge, b"", b"")  # tiny file declaring 3.6 gigapixels
    with pytest.raises(LimitError, match="max_pixels"):
        c.decode_file(data)
    with pytest.raises(LimitError, match="max_pixels"):
        c.read_header(data)
    assert c.decode_file(data, max_pixels=None).header == huge
    wide = c.encode_file(c.Header(70_000, 1, "L", 50, "m", HASH), b"", b"")
    with pytest.raises(LimitError, match="max_dimension"):
        c.decode_file(wide)
    assert c.decode_file(wide, max_dimension=None).header.width == 70_000
    with pytest.raises(LimitError):
        c.decode_file(small_file(), max_pixels=100)


def _with_head_bytes(offset: int, value: bytes) -> bytes:
    pre, chunks = split_chunks(small_file())
    head = bytearray(chunks[0][8:-4])
    head[offset: offset + len(value)] = value
    return pre + chunk(b"HEAD", bytes(head)) + b"".join(chunks[1:])


@pytest.mark.parametrize("offset,value,match", [
    (0, b"\0\0\0\0", "invalid"),          # width 0
    (4, b"\0\0\0\0", "invalid"),          # height 0
    (8, b"\x09", "mode"),                 # mode code 9
    (9, struct.pack("<H", 10_001), "quality"),
    (11, b"\x00", "coder"),
    (12, b"\x10\x00", "tile"),            # tile width without tile height
    (25, b"\xff", "ASCII"),               # model id byte not ASCII
    (24, b"\x00", "HEAD"),                # model id length 0 -> length mismatch
])
def test_bad_head_fields(offset, value, match):
    with pytest.raises(FormatError, match=match):
        c.decode_file(_with_head_bytes(offset, value))


def test_random_garbage_only_raises_aec_errors():
    data = small_file()
    import random
    rng = random.Random(1)
    for _ in range(2000):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            c.decode_file(bytes(mutated))
        except AecError:
            pass


def test_corrupt_chunk_error_pickles():
    import pickle
    e = pickle.loads(pickle.dumps(CorruptChunkError("YSTR")))
    assert e.chunk == "YSTR" and "YSTR" in str(e)


def test_alph_in_mode_without_alpha():
    pre, chunks = split_chunks(small_file())
    alph = chunk(b"ALPH", c.pack_alpha(b"\0" * 561, 17, 33))
    with pytest.raises(FormatError, match="ALPH"):
        c.decode_file(pre + b"".join(chunks[:-1]) + alph + chunks[-1])


def test_format_doc_example_is_current():
    import hashlib
    from pathlib import Path

    h = c.Header(17, 33, "RGB", 75.5, "mbt-q-v1", hashlib.sha256(b"example weights").digest()[:8])
    data = c.encode_file(h, b"\xa5\x5a", b"\x0f\xf0\x3c")
    doc = (Path(__file__).parent.parent / "docs" / "FORMAT.md").read_text()
    dumped = bytes.fromhex("".join(
        line[8:34] for line in doc.split("offset  bytes", 1)[1].split("```", 1)[0].splitlines()[1:]
    ))
    assert dumped == data


def test_check_preamble_rejects_early():
    c.check_preamble(b"")  # too short to tell: the full parse decides
    c.check_preamble(small_file()[:10])
    c.check_preamble(small_file())
    with pytest.raises(NotAecFileError):
        c.check_preamble(b"\0" * 4096)
    with pytest.raises(UnsupportedVersionError):
        c.check_preamble(c.SIGNATURE + b"\x02\x00")


def test_check_size():
    c.check_size(65_535, 1, None, None)
    c.check_size(2**32 - 1, 2**32 - 1, None, None)
    with pytest.raises(LimitError, match="max_dimension"):
        c.check_size(65_536, 1, None, c.DEFAULT_MAX_DIMENSION)
    with pytest.raises(LimitError, match="max_pixels"):
        c.check_size(10, 11, 100, None)


def test_container_imports_only_the_standard_library():
    """Reading headers stays light: the container and the post-filter format it parses import
    neither numpy nor torch nor Pillow (the package's __init__ is bypassed to see that)."""
    import subprocess
    import sys
    from pathlib import Path
    code = ("import sys, types; pkg = types.ModuleType('aecodec'); pkg.__path__ = ['aecodec']; "
            "sys.modules['aecodec'] = pkg; import aecodec.container; "
            "print(sorted(m for m in ('numpy', 'torch', 'PIL') if m in sys.modules))")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out
