"""ICC profile, EXIF and XMP: kept in optional chunks, returned in Pillow's `info`, written
back out by the command line, refused cleanly when malformed (aecodec/metadata.py)."""
import hashlib
import io
import json
import struct
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

import aecodec
from aecodec import container
from aecodec.errors import CorruptChunkError, FormatError, InputError, TruncatedFileError
from aecodec.metadata import EXIF_PREFIX, MetadataWarning

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def _exif(orientation: int = 6) -> bytes:
    tags = Image.Exif()
    tags[0x0112] = orientation
    tags[0x010F] = "Acme"
    return tags.tobytes()  # with Pillow's "Exif\0\0" prefix


def _with_space(icc: bytes, space: bytes) -> bytes:
    """The profile with another color space field (header bytes 16-19)."""
    return icc[:16] + space + icc[20:]


@pytest.fixture(scope="module")
def photo(small) -> Image.Image:
    """A JPEG as a camera or phone writes it: profile, EXIF with an orientation, XMP."""
    buf = io.BytesIO()
    small.crop((0, 0, 96, 64)).save(buf, "JPEG", quality=95, icc_profile=ICC, exif=_exif(),
                                    xmp=XMP)
    return Image.open(io.BytesIO(buf.getvalue()))


@pytest.fixture(scope="module")
def photo_path(photo, tmp_path_factory):
    path = tmp_path_factory.mktemp("meta") / "photo.jpg"
    photo.save(path, "JPEG", quality=95, icc_profile=ICC, exif=_exif(), xmp=XMP)
    return path


def _chunks(data: bytes) -> list[bytes]:
    pos, out = 10, []
    while pos < len(data):
        ctype, length = struct.unpack_from("<4sI", data, pos)
        out.append(ctype)
        pos += 12 + length
    return out


def _without(data: bytes, drop: set[bytes]) -> bytes:
    pos, parts = 10, [data[:10]]
    while pos < len(data):
        ctype, length = struct.unpack_from("<4sI", data, pos)
        if ctype not in drop:
            parts.append(data[pos: pos + 12 + length])
        pos += 12 + length
    return b"".join(parts)


# -- the library ---------------------------------------------------------------------------


def test_round_trip_keeps_every_item_byte_for_byte(codec, photo):
    data = codec.compress(photo, 50)
    out = codec.decompress(data)
    assert out.info["icc_profile"] == ICC
    assert out.info["exif"] == _exif()
    assert out.info["xmp"] == XMP
    assert out.getexif()[0x0112] == 6
    assert codec.decompress(data, region=(8, 8, 32, 16)).info["icc_profile"] == ICC


def test_metadata_leaves_the_image_alone(codec, photo):
    """Same streams and pixels with or without it; the chunks sit before the streams, and a
    file without them is exactly what metadata="none" writes (old readers skip them)."""
    full = codec.compress(photo, 50)
    bare = codec.compress(photo, 50, metadata="none")
    assert _chunks(full) == [b"HEAD", b"iCCP", b"eXIf", b"xMPd", b"ZSTR", b"YSTR", b"AEND"]
    assert container.decode_file(full).version == (1, 0)
    assert _without(full, {b"iCCP", b"eXIf", b"xMPd"}) == bare
    assert codec.decompress(bare).info == {}
    assert np.array_equal(np.asarray(codec.decompress(full)), np.asarray(codec.decompress(bare)))


def test_policies(codec, photo):
    color = container.decode_file(codec.compress(photo, 50, metadata="color"))
    assert color.metadata == {"icc": ICC}
    explicit = container.decode_file(codec.compress(photo, 50, metadata={"exif": _exif(3)}))
    assert explicit.metadata == {"exif": _exif(3)[len(EXIF_PREFIX):]}
    for bad in ("some", {"gps": b"x"}, ["icc_profile"], None):
        with pytest.raises(InputError):
            codec.compress(photo, 50, metadata=bad)
    with pytest.raises(InputError, match="must be bytes"):
        codec.compress(photo, 50, metadata={"xmp": 5})


def test_arrays_and_plain_pngs_have_none(codec, small):
    for image in (np.asarray(small), small):
        assert container.decode_file(codec.compress(image, 30)).metadata == {}


def test_a_size_target_counts_the_metadata(codec, photo):
    full = len(codec.compress(photo, 50))
    data = codec.compress(photo, size=full - 20)
    assert len(data) <= full - 20
    parsed = container.decode_file(data)
    assert parsed.header.quality < 50 and parsed.metadata["icc"] == ICC


def test_a_profile_that_does_not_fit_the_pixels_is_dropped_with_a_warning(codec, small):
    rgb = small.crop((0, 0, 64, 64))
    rgb.info["icc_profile"] = _with_space(ICC, b"CMYK")  # what a CMYK JPEG carries
    with pytest.warns(MetadataWarning, match="CMYK profile.*coded as RGB"):
        data = codec.compress(rgb, 30)
    assert container.decode_file(data).metadata == {}
    gray = rgb.convert("L")
    gray.info["icc_profile"] = _with_space(ICC, b"GRAY")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = codec.decompress(codec.compress(gray, 30))
    assert out.mode == "L" and out.info["icc_profile"][16:20] == b"GRAY"
    rgb.info["icc_profile"] = b"not a profile"
    with pytest.warns(MetadataWarning, match="not an ICC profile"):
        codec.compress(rgb, 30)


# -- the container -------------------------------------------------------------------------


def _file(**metadata) -> bytes:
    header = container.Header(16, 16, "RGB", 50.0, "m", b"\0" * 8)
    return container.encode_file(header, b"z", b"y", metadata=metadata)


def _replace_payload(data: bytes, ctype: bytes, payload: bytes) -> bytes:
    pos, parts = 10, [data[:10]]
    while pos < len(data):
        t, length = struct.unpack_from("<4sI", data, pos)
        if t == ctype:
            crc = zlib.crc32(payload, zlib.crc32(t))
            parts.append(struct.pack("<4sI", t, len(payload)) + payload + struct.pack("<I", crc))
        else:
            parts.append(data[pos: pos + 12 + length])
        pos += 12 + length
    return b"".join(parts)


def test_container_round_trip_and_writer_checks():
    data = _file(icc=ICC, exif=b"II*\0", xmp=b"")
    assert container.decode_file(data).metadata == {"icc": ICC, "exif": b"II*\0"}
    assert container.scan_metadata(io.BytesIO(data)) == {"icc": ICC, "exif": b"II*\0"}
    with pytest.raises(InputError, match="unknown metadata"):
        _file(gps=b"1")
    with pytest.raises(InputError, match="more than"):
        _file(icc=bytes(container.MAX_METADATA_BYTES + 1))


@pytest.mark.parametrize("payload, message", [
    (b"not zlib", "not a valid zlib stream"),
    (zlib.compress(b"abc")[:-3], "not exactly one complete zlib stream"),
    (zlib.compress(b"abc") + b"x", "not exactly one complete zlib stream"),
    (zlib.compress(b""), "holds no data"),
    (zlib.compress(bytes(container.MAX_METADATA_BYTES + 1), 9), "inflates to more than"),
])
def test_malformed_metadata_is_a_format_error(payload, message):
    data = _replace_payload(_file(icc=ICC), b"iCCP", payload)
    with pytest.raises(FormatError, match=message):
        container.decode_file(data)
    with pytest.raises(FormatError, match=message):
        container.scan_metadata(io.BytesIO(data))


def test_damaged_repeated_or_cut_metadata():
    data = _file(icc=ICC)
    at = data.index(b"iCCP") + 20
    damaged = data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]
    with pytest.raises(CorruptChunkError) as info:
        container.decode_file(damaged)
    assert info.value.chunk == "iCCP"
    start = data.index(b"iCCP")
    end = data.index(b"ZSTR")
    twice = data[:end] + data[start:end] + data[end:]
    for reader in (container.decode_file, lambda d: container.scan_metadata(io.BytesIO(d))):
        with pytest.raises(FormatError, match="more than once"):
            reader(twice)
    with pytest.raises(TruncatedFileError):
        container.scan_metadata(io.BytesIO(data[: data.index(b"iCCP") + 40]))


# -- the command line and Pillow -------------------------------------------------------------


@pytest.mark.parametrize("suffix, has_xmp", [(".png", True), (".jpg", True), (".webp", True),
                                             (".tif", False), (".avif", True)])
def test_decompress_writes_the_metadata_out(run, photo_path, tmp_path, suffix, has_xmp):
    from PIL import features
    if suffix == ".avif" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF")
    aec = tmp_path / "photo.aec"
    assert run("compress", photo_path, aec, "-q", 30).exit_code == 0
    out = tmp_path / f"back{suffix}"
    result = run("decompress", aec, out)
    assert result.exit_code == 0
    back = Image.open(out)
    assert back.info["icc_profile"] == ICC
    assert back.getexif()[0x0112] == 6
    if has_xmp:
        assert back.info["xmp"] in (XMP, XMP.decode())
    else:
        assert "has no place for the xmp" in result.output


def test_cli_metadata_option_info_and_warnings(run, photo_path, tmp_path):
    aec = tmp_path / "photo.aec"
    assert run("compress", photo_path, aec, "--metadata", "color").exit_code == 0
    assert container.decode_file(aec.read_bytes()).metadata == {"icc": ICC}
    assert run("compress", photo_path, aec, "--force").exit_code == 0
    shown = run("info", aec).output
    assert "icc profile:" in shown and "sRGB" in shown and "orientation 6" in shown
    facts = json.loads(run("info", aec, "--json").output)
    assert facts["metadata"]["icc_profile"]["bytes"] == len(ICC)
    assert facts["metadata"]["exif"]["orientation"] == 6
    assert facts["bytes"] == aec.stat().st_size and facts["chunks"]["iCCP"] > 0
    assert (facts["width"], facts["height"], facts["mode"]) == (96, 64, "RGB")
    result = run("decompress", aec, tmp_path / "back.bmp")
    assert result.exit_code == 0
    assert "aecodec: warning: BMP has no place for the icc profile" in result.output
    odd = tmp_path / "odd.png"
    Image.open(photo_path).save(odd, icc_profile=_with_space(ICC, b"CMYK"))
    result = run("compress", odd, tmp_path / "odd.aec")
    assert result.exit_code == 0
    assert "aecodec: warning: the image's ICC profile was dropped" in result.output


def test_batch_reports_what_it_could_not_keep(run, photo_path, tmp_path):
    aec_dir, out_dir = tmp_path / "aec", tmp_path / "out"
    assert run("compress", photo_path, "-o", aec_dir, "-j", 1).exit_code == 0
    result = run("decompress", aec_dir, "-o", out_dir, "--format", "bmp", "-j", 1)
    assert result.exit_code == 0
    assert "ok:" in result.output and "no place for the icc profile" in result.output


def test_pillow_plugin_reads_and_writes_metadata(photo, tmp_path):
    aecodec.register_pillow()
    path = tmp_path / "p.aec"
    photo.save(path, quality=30)
    with Image.open(path) as im:
        assert im.info["icc_profile"] == ICC and im.info["xmp"] == XMP
        assert im.getexif()[0x0112] == 6
    photo.save(path, quality=30, exif=_exif(8), icc_profile=None)
    assert container.decode_file(path.read_bytes()).metadata.keys() == {"exif", "xmp"}
    with Image.open(path) as im:
        assert im.getexif()[0x0112] == 8 and "icc_profile" not in im.info
    photo.save(path, quality=30, metadata="none")
    with Image.open(path) as im:
        assert not {"icc_profile", "exif", "xmp"} & im.info.keys()


@settings(max_examples=60, deadline=None)
@given(items=st.dictionaries(st.sampled_from(sorted(container.METADATA_CHUNKS)),
                             st.binary(min_size=1, max_size=3000)))
def test_any_bytes_round_trip_through_the_container(items):
    data = _file(**items)
    assert container.decode_file(data).metadata == items
    assert container.scan_metadata(io.BytesIO(data)) == items


def test_golden_file_with_metadata():
    """A file written when the metadata chunks were defined (session 21) reads the same
    forever: the chunks, their order and zlib payloads are part of the format."""
    from conftest import GOLDEN
    folder = GOLDEN / "format"
    for name, expected in json.loads((folder / "format.json").read_text()).items():
        f = container.decode_file((folder / name).read_bytes())
        assert "%d.%d" % f.version == expected["version"]
        got = {key: {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
               for key, raw in f.metadata.items()}
        assert got == expected["metadata"]
        assert Image.Exif().load(EXIF_PREFIX + f.metadata["exif"]) is None  # parses
