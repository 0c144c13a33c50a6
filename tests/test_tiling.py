"""Tiles and processing windows: no seams, exact region decoding, bounded work.

The image sizes here are small, so the window grid is shrunk (monkeypatched) to make a
256x192 crop span several windows; the full-size behaviour is measured by
`python -m bench memory` (docs in README, "Huge images").
"""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import aecodec
from aecodec import cli, container, tiling
from aecodec.codec import Codec

W, H = 448, 320  # pads to 448x320: 7x5 blocks of 64


@pytest.fixture(scope="module")
def image(sample):
    return sample.convert("RGB").crop((0, 0, W, H))


@pytest.fixture()
def small_windows(monkeypatch):
    monkeypatch.setattr(tiling, "WHOLE_IMAGE_PIXELS", 0)
    monkeypatch.setattr(tiling, "WINDOW_CORE", 192)


def psnr(a, b) -> float:
    err = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return 10 * np.log10(255**2 / max(np.mean(err**2), 1e-12))


def test_window_cores_cover_the_image_once():
    for w, h in ((1, 1), (1500, 1000), (4000, 3000), (2049, 65)):
        pw, ph = tiling.padded_size(w, h)
        cover = np.zeros((ph, pw), np.int32)
        for core, outer in tiling.windows(w, h):
            assert outer.x0 <= core.x0 and core.x1 <= outer.x1 and outer.y0 <= core.y0
            assert all(v % tiling.LATENT == 0 for v in (outer.x0, outer.y0, outer.x1, outer.y1))
            cover[core.y0:core.y1, core.x0:core.x1] += 1
        assert (cover == 1).all()


def test_tile_grid_and_default_tile_size():
    assert tiling.default_tile_size(1024, 1000) == 0  # one tile: stays untiled (format 1.0)
    assert tiling.default_tile_size(1025, 10) == 1024
    tiles = tiling.tile_grid(2000, 1100, 1024, 1024)
    assert [(t.x0, t.y0, t.x1, t.y1) for t in tiles] == [
        (0, 0, 1024, 1024), (1024, 0, 2048, 1024), (0, 1024, 1024, 1152), (1024, 1024, 2048, 1152)]
    assert tiling.tile_count(2000, 1100, 1024, 1024) == 4


def test_windowed_transforms_match_the_whole_image(codec, image, small_windows):
    """g_a and g_s window by window, with margins, give what one pass over the image gives."""
    data = Codec(tile_size=None).compress(image, quality=60)
    windowed = np.asarray(codec.decompress(data), np.int16)
    features = codec._prepare(image).features
    tiling.WHOLE_IMAGE_PIXELS = 1 << 40  # one window (monkeypatch restores it)
    assert len(tiling.windows(W, H)) == 1
    whole = np.asarray(codec.decompress(data), np.int16)
    assert np.abs(windowed - whole).max() <= 1
    assert psnr(windowed, whole) > 60
    assert torch_allclose(features, codec._prepare(image).features)


def torch_allclose(a, b) -> bool:
    return float((a - b).abs().max()) < 1e-4


def test_tiled_file_has_no_seams(image):
    """Independent tiles (each with its own z) cost no visible quality: within 0.2 dB of the
    untiled file at about the same size. (Tiles of 128 px are far smaller than the default:
    12 tiles here, whose edges lose context; measured at quality 40-80 on this image: cc-v5
    0.05-0.11 dB, cc-v6 0.08-0.12 dB. A seam would cost far more.)"""
    tiled = Codec(tile_size=128).compress(image, quality=60)
    plain = Codec(tile_size=None).compress(image, quality=60)
    f = container.decode_file(tiled)
    assert f.version == (1, 1) and len(f.tiles) == 4 * 3 and len(f.tile_lengths) == 12
    assert container.decode_file(plain).version == (1, 0)
    p_tiled, p_plain = psnr(aecodec.decompress(tiled), image), psnr(aecodec.decompress(plain), image)
    assert abs(p_tiled - p_plain) < 0.2, (p_tiled, p_plain)
    assert abs(len(tiled) / len(plain) - 1) < 0.1


@pytest.mark.parametrize("region", [(0, 0, 1, 1), (100, 70, 150, 90), (W - 37, H - 5, 37, 5), (0, 0, W, H)])
def test_region_decode_equals_crop_of_full_decode(codec, image, small_windows, region):
    data = Codec(tile_size=128).compress(image, quality=40)
    full = np.asarray(codec.decompress(data))
    x, y, w, h = region
    part = np.asarray(codec.decompress(data, region=region))
    assert part.shape == (h, w, 3)
    assert np.array_equal(part, full[y:y + h, x:x + w])


def test_region_decode_decodes_only_the_tiles_it_needs(codec, image, small_windows, monkeypatch):
    data = Codec(tile_size=128).compress(image, quality=40)
    decoded = []
    original = Codec._decode_tile

    def spy(self, f, lm, index, box, streams):
        decoded.append(index)
        return original(self, f, lm, index, box, streams)
    monkeypatch.setattr(Codec, "_decode_tile", spy)
    codec.decompress(data, region=(10, 10, 20, 20))  # top-left corner: one window's context
    # that window reaches its core (192 px) plus the model's margin: the 128-px tiles under it,
    # [0, 1, 4, 5] of the 4x3 grid with a 64-px margin; a full decode needs all 12
    reach = -(-(192 + tiling.window_margin(codec.model.config.latent_blocks)) // 128)
    assert sorted(decoded) == [4 * row + col for row in range(min(reach, 3)) for col in range(reach)]
    decoded.clear()
    codec.decompress(data)
    assert sorted(decoded) == list(range(12))


def test_region_with_alpha_and_grayscale(codec, sample):
    rgba = sample.convert("RGBA").crop((0, 0, 200, 130))
    data = Codec(tile_size=64).compress(rgba, quality=50)
    part = codec.decompress(data, region=(30, 40, 60, 50))
    assert part.mode == "RGBA"
    assert np.array_equal(np.asarray(part)[..., 3], np.asarray(rgba)[40:90, 30:90, 3])
    gray = Codec(tile_size=64).compress(sample.convert("L").crop((0, 0, 200, 130)), quality=50)
    assert codec.decompress(gray, region=(5, 5, 10, 10)).mode == "L"


@pytest.mark.parametrize("region", [(0, 0, 0, 5), (-1, 0, 5, 5), (440, 0, 10, 5), (0, 0, 5), "abc"])
def test_bad_region_is_an_input_error(codec, image, region):
    data = aecodec.compress(image.crop((0, 0, 64, 64)))
    with pytest.raises(aecodec.InputError):
        codec.decompress(data, region=region)


def test_cli_crop_tile_size_and_info(image, tmp_path):
    src, aec, out = tmp_path / "in.png", tmp_path / "x.aec", tmp_path / "out.png"
    image.save(src)
    run = CliRunner().invoke
    r = run(cli.main, ["compress", str(src), str(aec), "--tile-size", "128"])
    assert r.exit_code == 0, r.output
    r = run(cli.main, ["info", str(aec)])
    assert "12 of 128x128" in r.output and "1.1" in r.output
    r = run(cli.main, ["decompress", str(aec), str(out), "--crop", "10,20,30,40"])
    assert r.exit_code == 0, r.output
    from PIL import Image
    with Image.open(out) as im:
        assert im.size == (30, 40)
    assert run(cli.main, ["decompress", str(aec), str(out), "-f", "--crop", "1,2,3"]).exit_code == 2
    r = run(cli.main, ["decompress", str(aec), str(out), "-f", "--crop", "0,0,9999,10"])
    assert r.exit_code == 1 and "not inside" in r.output
    assert run(cli.main, ["compress", str(src), str(aec), "-f", "--tile-size", "100"]).exit_code == 2


def test_device_choice(image):
    import torch
    assert Codec(device="cpu").device.type == "cpu"
    assert Codec(device="auto").device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(aecodec.InputError):
        Codec(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(aecodec.InputError, match="no CUDA"):
            Codec(device="cuda")


@pytest.mark.skipif("not __import__('torch').cuda.is_available()")
def test_gpu_encoded_file_decodes_to_the_same_symbols_on_cpu(image):
    """Files from the GPU decode on the CPU (and back) to identical symbols and close pixels."""
    gpu, cpu = Codec(device="cuda"), Codec(device="cpu")
    for enc in (gpu, cpu):
        data = enc.compress(image, quality=50)
        a, b = gpu.decode_symbols(data)[2], cpu.decode_symbols(data)[2]
        for sa, sb in zip(a, b):
            assert all(np.array_equal(getattr(sa, k), getattr(sb, k)) for k in ("z", "y", "y_mean", "y_rows"))
        assert psnr(gpu.decompress(data), cpu.decompress(data)) > 45
