"""The Pillow plugin: lazy open, load, save, round trip; other formats unaffected."""
import io

import numpy as np
import pytest
from PIL import Image

import aecodec

from conftest import psnr


@pytest.fixture(scope="module", autouse=True)
def registered():
    aecodec.register_pillow()


def test_open_is_lazy_and_load_decodes(small, tmp_path, monkeypatch):
    path = tmp_path / "x.aec"
    path.write_bytes(aecodec.compress(small, quality=60))
    calls = []
    real = aecodec.Codec.decompress
    monkeypatch.setattr(aecodec.Codec, "decompress", lambda self, d: calls.append(1) or real(self, d))
    with Image.open(path) as im:
        assert im.format == "AEC" and im.size == small.size and im.mode == "RGB"
        assert im.info["quality"] == 60
        assert calls == []  # size and mode came from the header alone
        im.load()
        assert calls == [1]
        assert psnr(im, small) > 24


def test_save_and_reopen(small, tmp_path):
    path = tmp_path / "y.aec"
    small.convert("RGBA").save(path, quality=30)
    with Image.open(path) as im:
        assert im.mode == "RGBA"
        assert np.asarray(im)[:, :, 3].min() == 255
    assert Image.registered_extensions()[".aec"] == "AEC"
    assert Image.MIME["AEC"] == "image/x-aec"


def test_save_to_buffer_with_format(small):
    buf = io.BytesIO()
    small.convert("L").save(buf, format="AEC")
    buf.seek(0)
    with Image.open(buf) as im:
        assert im.mode == "L"
        im.load()


def test_other_formats_unaffected(small, tmp_path):
    small.save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as im:
        assert im.format == "PNG"
    (tmp_path / "junk.aec").write_bytes(b"not really")
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(tmp_path / "junk.aec")


def test_save_with_a_target(codec, small):
    for target, key in ((2_000, "size"), (0.8, "bpp")):
        buf = io.BytesIO()
        small.save(buf, format="AEC", **{key: target})
        assert buf.getvalue() == codec.compress(small, **{key: target})
