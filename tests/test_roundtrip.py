"""Round trips through the public API: qualities, odd sizes, modes, input types."""
import numpy as np
import pytest
from PIL import Image

import aecodec
from aecodec.codec import quality_to_level

from conftest import psnr


def test_sample_quality_scale_is_monotonic(codec, small):
    sizes = [len(codec.compress(small, quality=q)) for q in (0, 25, 50, 75, 100)]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), sizes


@pytest.mark.parametrize("quality", [0, 37.5, 100])
def test_roundtrip_quality(codec, small, quality):
    data = codec.compress(small, quality=quality)
    out = codec.decompress(data)
    assert out.size == small.size and out.mode == "RGB"
    assert aecodec.read_header(data)[0].quality == quality
    # A trained model reconstructs a natural image recognisably even at the lowest rate.
    assert psnr(out, small) > 24


def test_full_sample_beats_floor(codec, sample):
    data = codec.compress(sample, quality=50)
    bpp = 8 * len(data) / (sample.width * sample.height)
    assert 0.05 < bpp < 2.0
    assert psnr(codec.decompress(data), sample) > 28


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (33, 17), (64, 64), (700, 467)])
def test_odd_sizes(codec, sample, size):
    img = sample.resize(size)
    out = codec.decompress(codec.compress(img, quality=60))
    assert out.size == size


def test_grayscale_stays_grayscale(codec, small):
    gray = small.convert("L")
    out = codec.decompress(codec.compress(gray, quality=60))
    assert out.mode == "L" and out.size == gray.size
    assert psnr(out, gray) > 25


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_lossless(codec, small, mode):
    img = small.convert(mode)
    alpha = np.random.default_rng(0).integers(0, 256, (img.height, img.width), dtype=np.uint8)
    img.putalpha(Image.fromarray(alpha))
    out = codec.decompress(codec.compress(img, quality=40))
    assert out.mode == mode
    np.testing.assert_array_equal(np.asarray(out)[:, :, -1], alpha)


def test_palette_with_transparency_keeps_alpha(codec, small):
    p = small.convert("P")
    p.info["transparency"] = 0
    out = codec.decompress(codec.compress(p))
    assert out.mode == "RGBA"


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 1), (20, 30, 2), (20, 30, 3), (20, 30, 4)])
def test_numpy_input(codec, shape):
    a = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    out = codec.decompress(codec.compress(a))
    channels = 1 if len(shape) == 2 else shape[2]
    assert out.size == (30, 20)
    assert out.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]


def test_path_input_and_output(codec, small, tmp_path):
    src = tmp_path / "in.png"
    small.save(src)
    dst = tmp_path / "out.aec"
    dst.write_bytes(codec.compress(src))
    assert codec.decompress(dst).size == small.size
    assert aecodec.decompress(dst.read_bytes()).size == small.size


@pytest.mark.parametrize("bad", [
    np.zeros((0, 5, 3), np.uint8), np.zeros((4, 4, 3), np.int32), np.zeros((4, 4, 5), np.uint8),
    np.zeros((4, 4), np.float32), 12345,
])
def test_bad_encoder_input(codec, bad):
    with pytest.raises(aecodec.InputError):
        codec.compress(bad)


@pytest.mark.parametrize("mode", ["I", "F"])
def test_32_bit_images_refused(codec, mode):
    with pytest.raises(aecodec.InputError, match="not supported.*clips instead of scaling"):
        codec.compress(Image.new(mode, (8, 8)))


def test_16_bit_images_are_scaled_to_8_bits(codec):
    """A 16-bit grayscale image (and a uint16 array) is coded as its 8-bit scaling, with a
    warning; Pillow's convert('L') would have clipped it to white."""
    ramp = np.add.outer(np.arange(64), np.arange(96)).astype(np.float64) / 158
    wide = np.rint(ramp * 65535).astype(np.uint16)
    eight = np.rint(ramp * 255)
    with pytest.warns(aecodec.InputWarning, match="16-bit image.*reduced to 8 bits"):
        data = codec.compress(Image.fromarray(wide), quality=90)
    back = codec.decompress(data)
    assert back.mode == "L" and np.abs(np.asarray(back) - eight).mean() < 2
    with pytest.warns(aecodec.InputWarning, match="16-bit array"):
        data = codec.compress(np.repeat(wide[:, :, None], 3, axis=2), quality=90)
    back = np.asarray(codec.decompress(data), dtype=np.float64)
    assert back.shape == (64, 96, 3) and np.abs(back - eight[:, :, None]).mean() < 2


def test_bad_paths(codec, tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    for path, what in [(tmp_path / "missing.png", "no such file"), (tmp_path, "directory"),
                       (tmp_path / "junk.png", "not an image")]:
        with pytest.raises(aecodec.InputError, match=what):
            codec.compress(path)


@pytest.mark.parametrize("quality", [-1, 100.5, float("nan")])
def test_quality_out_of_range(codec, small, quality):
    with pytest.raises(aecodec.InputError):
        codec.compress(small, quality=quality)


def test_quality_to_level_is_linear_and_bounded():
    assert quality_to_level(0, 8) == 0 and quality_to_level(100, 8) == 7
    assert quality_to_level(50, 8) == 3.5


def test_an_animation_codes_its_first_frame_and_says_so(codec, small, tmp_path, run):
    first, second = small.crop((0, 0, 64, 64)), small.crop((64, 0, 128, 64))
    gif = tmp_path / "anim.gif"
    first.save(gif, save_all=True, append_images=[second])
    with pytest.warns(aecodec.InputWarning, match="has 2 frames; only the first is coded"):
        data = codec.compress(gif, 90)
    with Image.open(gif) as im:
        frame0 = np.asarray(im.convert("RGB"))
    assert psnr(codec.decompress(data).convert("RGB"), frame0) > 30
    result = run("compress", gif, tmp_path / "anim.aec")
    assert result.exit_code == 0
    assert result.output.count("only the first is coded") == 1
    result = run("compress", gif, "-o", tmp_path / "batch", "-j", 1)
    assert result.exit_code == 0 and "ok:" in result.output
    assert "has 2 frames; only the first is coded" in result.output
