"""Encoder blocks (residual capacity in g_a alone, at 1/4 and 1/8 resolution) and decoder
blocks (in g_s alone, at 1/8): added to a trained model they change nothing until trained,
each stays on its own side of the codec, and the processing windows of its transform widen
with its receptive field."""
import numpy as np
import torch

from conftest import psnr
from aecodec import tiling
from aecodec.model import HyperpriorModel, ModelConfig, extend
from test_latent_blocks import TINY, tiny_weights, trained_steps


def children(module: torch.nn.Module) -> list[str]:
    return [n for n, _ in module.named_children()]


def trained_and_grown(seed: int, **changes):
    """A tiny model after a few Adam steps, the same grown by `changes`, and the names of
    the parameters growing added."""
    torch.manual_seed(seed)
    model = HyperpriorModel(TINY)
    trained_steps(model)
    grown = extend(model, **changes)
    return model, grown, set(grown.state_dict()) - set(model.state_dict())


def test_added_encoder_blocks_start_as_the_identity():
    model, grown, added = trained_and_grown(4, encoder_blocks=2)
    assert added and all(k.startswith(("g_a.enc4_", "g_a.enc8_")) for k in added)
    assert {"g_a.enc4_1.body.4.weight", "g_a.enc8_0.body.0.bias"} <= added
    names = children(grown.g_a)
    # after the GDNs at 1/4 and 1/8 resolution, before the next convolution
    assert names[names.index("3") + 1:names.index("4")] == ["enc4_0", "enc4_1"]
    assert names[names.index("5") + 1:names.index("6")] == ["enc8_0", "enc8_1"]
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(grown.g_a(x), model.g_a(x))
    config = ModelConfig.from_dict(grown.config.to_dict())
    assert config == grown.config and config.encoder_blocks == 2
    assert ModelConfig.from_dict(model.config.to_dict()).encoder_blocks == 0  # older configs


def test_added_decoder_blocks_start_as_the_identity():
    model, grown, added = trained_and_grown(6, decoder_blocks=3)
    assert added and all(k.startswith("g_s.dec8_") for k in added)
    assert {"g_s.dec8_2.body.4.weight", "g_s.dec8_0.body.0.bias"} <= added
    names = children(grown.g_s)
    # after the inverse GDN at 1/8 resolution, before the transposed convolution to 1/4
    assert names[names.index("1") + 1:names.index("2")] == ["dec8_0", "dec8_1", "dec8_2"]
    y = torch.randn(1, TINY.m, 4, 4)
    with torch.no_grad():
        assert torch.equal(grown.g_s(y), model.g_s(y))
    config = ModelConfig.from_dict(grown.config.to_dict())
    assert config == grown.config and config.decoder_blocks == 3
    assert ModelConfig.from_dict({k: v for k, v in config.to_dict().items()
                                  if k != "decoder_blocks"}).decoder_blocks == 0  # older configs


def test_window_margin_covers_the_encoder_and_decoder_blocks():
    assert tiling.window_margin(0, 2) == tiling.WINDOW_MARGIN  # 30 + 24 px
    assert tiling.window_margin(0, 3) == 80  # 30 + 36 px
    assert tiling.window_margin(3, 2) == 112  # 30 + 48 + 24 px
    assert tiling.window_margin(0, 0, 4) == tiling.WINDOW_MARGIN  # 30 + 32 px
    assert tiling.window_margin(3, 0, 3) == 112  # 30 + 48 + 24 px


def one_pass_then_windows(tmp_path, sample, monkeypatch, flags: list[str], randomized: str,
                          seed: int):
    """Tiny weights grown by the training `flags` with random `randomized` weights, a 448x320 crop
    and its file written in one pass; then the windows made small for what follows.
    Returns the model, its Adam moments' names, the codec, the crop and the file."""
    from aecodec.codec import Codec
    model, opt_state, weights = tiny_weights(tmp_path, flags, "tiny", randomized, seed)
    monkeypatch.setenv("AECODEC_WEIGHTS", str(weights))
    image = sample.crop((0, 0, 448, 320))
    codec = Codec("tiny", tile_size=None)
    data = codec.compress(image, quality=60)
    return model, opt_state["names"], codec, image, data


def small_windows(monkeypatch) -> None:
    monkeypatch.setattr(tiling, "WHOLE_IMAGE_PIXELS", 0)
    monkeypatch.setattr(tiling, "WINDOW_CORE", 192)
    assert len(tiling.windows(448, 320)) > 1


def test_windowed_encoding_with_encoder_blocks(tmp_path, sample, monkeypatch):
    """Weights with six pairs of encoder blocks (g_a's receptive field 30 + 72 px, beyond
    the plain 64-px margin) and random analysis weights: encoding window by window writes
    the file one pass writes, and the decoder reads it."""
    model, names, codec, image, data = one_pass_then_windows(
        tmp_path, sample, monkeypatch, ["--encoder-blocks", "6"], "g_a", 5)
    assert model.config.encoder_blocks == 6 and "g_a.enc8_5.body.4.weight" in names
    small_windows(monkeypatch)
    assert codec.compress(image, quality=60) == data
    assert np.asarray(codec.decompress(data)).shape == (320, 448, 3)


def test_windowed_decoding_with_decoder_blocks(tmp_path, sample, monkeypatch):
    """Weights with ten decoder blocks (g_s's receptive field 30 + 80 px, beyond the plain
    64-px margin: without the wider margin pixels were off by up to 26 levels) and random
    synthesis weights: decoding window by window gives the pixels one pass gives, up to
    float rounding, and the encoder, which never runs them, writes the same file."""
    model, names, codec, image, data = one_pass_then_windows(
        tmp_path, sample, monkeypatch, ["--decoder-blocks", "10"], "g_s", 7)
    assert model.config.decoder_blocks == 10 and "g_s.dec8_9.body.4.weight" in names
    whole = np.asarray(codec.decompress(data), np.int16)
    small_windows(monkeypatch)
    windowed = np.asarray(codec.decompress(data), np.int16)
    assert np.abs(windowed - whole).max() <= 1 and psnr(windowed, whole) > 60
    assert codec.compress(image, quality=60) == data
