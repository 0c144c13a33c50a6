"""Malformed files through the full decoder: each failure is a specific aecodec error."""
import dataclasses
import zlib

import numpy as np
import pytest

import aecodec
from aecodec import container


@pytest.fixture(scope="module")
def good(codec, small):
    return codec.compress(small.crop((0, 0, 64, 48)), quality=50)


def rewrite_header(data: bytes, **changes) -> bytes:
    f = container.decode_file(data)
    header = dataclasses.replace(f.header, **changes)
    return container.encode_file(header, f.z_stream, f.y_stream, f.alpha)


def test_wrong_magic(codec, good):
    with pytest.raises(aecodec.NotAecFileError):
        codec.decompress(b"\x89PNG\r\n\x1a\n" + good[8:])


def test_empty(codec):
    with pytest.raises(aecodec.NotAecFileError):
        codec.decompress(b"")


def test_unknown_version(codec, good):
    with pytest.raises(aecodec.UnsupportedVersionError):
        codec.decompress(good[:8] + bytes([9, 0]) + good[10:])


def test_unknown_model(codec, good):
    with pytest.raises(aecodec.UnknownModelError, match="not installed"):
        codec.decompress(rewrite_header(good, model_id="no-such-model"))


def test_a_retired_model_names_the_commit_its_files_decode_with(codec, good):
    with pytest.raises(aecodec.UnknownModelError, match="retired.*commit c0d2483"):
        codec.decompress(rewrite_header(good, model_id="cc-v29"))


def test_info_says_whether_a_file_decodes_here(run, good, tmp_path):
    import json
    ok, old = tmp_path / "ok.aec", tmp_path / "old.aec"
    ok.write_bytes(good)
    old.write_bytes(rewrite_header(good, model_id="cc-v29"))
    r = run("info", ok)
    assert r.exit_code == 0 and "decodes here:   yes" in r.output
    r = run("info", "--json", old)
    facts = json.loads(r.output)
    assert facts["decodes_here"] is False and "commit c0d2483" in facts["missing"]


def test_other_weights_of_same_model(codec, good):
    with pytest.raises(aecodec.UnknownModelError, match="other weights"):
        codec.decompress(rewrite_header(good, weights_hash=b"\0" * 8))


def test_crc_names_damaged_chunk(codec, good):
    f = container.decode_file(good)
    pos = good.index(b"YSTR") + 8 + len(f.y_stream) // 2
    bad = bytearray(good)
    bad[pos] ^= 0x10
    with pytest.raises(aecodec.CorruptChunkError) as info:
        codec.decompress(bytes(bad))
    assert info.value.chunk == "YSTR" and "YSTR" in str(info.value)


@pytest.mark.parametrize("cut", [1, 9, 20, 40, -30, -13, -1])
def test_truncation(codec, good, cut):
    with pytest.raises(aecodec.FormatError):
        codec.decompress(good[:cut])


def test_limits_checked_from_header(codec, good):
    big = rewrite_header(good, width=60000, height=60000)
    with pytest.raises(aecodec.LimitError, match="max_pixels"):
        codec.decompress(big)
    strict = aecodec.Codec(max_pixels=1000)
    with pytest.raises(aecodec.LimitError):
        strict.decompress(good)


def test_stream_with_valid_crc_but_garbage(codec, good):
    """Garbage that passes the CRC decodes to some image or raises DecodeError, nothing else."""
    f = container.decode_file(good)
    rng = np.random.default_rng(0)
    for n in (0, 3, 4, 64, len(f.y_stream)):
        junk = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        data = container.encode_file(f.header, f.z_stream, junk, f.alpha)
        try:
            img = codec.decompress(data)
        except aecodec.DecodeError:
            continue
        assert img.size == (f.header.width, f.header.height)


def test_size_mismatch_between_header_and_streams(codec, good):
    """A header claiming a larger image than the streams hold decodes or fails cleanly."""
    data = rewrite_header(good, width=640, height=480)
    try:
        codec.decompress(data)
    except aecodec.DecodeError:
        pass


def test_every_error_is_an_aec_error():
    for cls in (aecodec.FormatError, aecodec.NotAecFileError, aecodec.UnsupportedVersionError,
                aecodec.TruncatedFileError, aecodec.CorruptChunkError, aecodec.UnknownModelError,
                aecodec.DecodeError, aecodec.LimitError, aecodec.InputError):
        assert issubclass(cls, aecodec.AecError)
    assert zlib  # the container's CRC is zlib.crc32 (see docs/FORMAT.md)
