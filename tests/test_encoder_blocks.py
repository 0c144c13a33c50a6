"""Encoder blocks (residual capacity in g_a alone, at 1/4 and 1/8 resolution): added to a
trained model they change nothing until trained, the decoder never runs them, and g_a's
processing windows widen with its receptive field."""
import numpy as np
import torch

from conftest import training_images
from aecodec import tiling
from aecodec.model import HyperpriorModel, ModelConfig, extend
from aecodec.train.loop import load_checkpoint, save_checkpoint
from test_latent_blocks import TINY, trained_steps


def test_added_encoder_blocks_start_as_the_identity():
    torch.manual_seed(4)
    model = HyperpriorModel(TINY)
    trained_steps(model)
    grown = extend(model, encoder_blocks=2)
    added = set(grown.state_dict()) - set(model.state_dict())
    assert added and all(k.startswith(("g_a.enc4_", "g_a.enc8_")) for k in added)
    assert {"g_a.enc4_1.body.4.weight", "g_a.enc8_0.body.0.bias"} <= added
    names = [n for n, _ in grown.g_a.named_children()]
    # after the GDNs at 1/4 and 1/8 resolution, before the next convolution
    assert names[names.index("3") + 1:names.index("4")] == ["enc4_0", "enc4_1"]
    assert names[names.index("5") + 1:names.index("6")] == ["enc8_0", "enc8_1"]
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(grown.g_a(x), model.g_a(x))
    config = ModelConfig.from_dict(grown.config.to_dict())
    assert config == grown.config and config.encoder_blocks == 2
    assert ModelConfig.from_dict(model.config.to_dict()).encoder_blocks == 0  # older configs


def test_window_margin_covers_the_encoder_blocks():
    assert tiling.window_margin(0, 2) == tiling.WINDOW_MARGIN  # 30 + 24 px
    assert tiling.window_margin(0, 3) == 80  # 30 + 36 px
    assert tiling.window_margin(3, 2) == 112  # 30 + 48 + 24 px


def test_windowed_encoding_with_encoder_blocks(tmp_path, sample, monkeypatch):
    """Weights with six pairs of encoder blocks (g_a's receptive field 30 + 72 px, beyond
    the plain 64-px margin), trained through the CLI flag, given random analysis weights so
    that what a window lacks shows in its latents: encoding window by window writes the
    file one pass writes, and the decoder reads it."""
    from aecodec.codec import Codec
    from aecodec.train.export import main as export_main
    from aecodec.train.loop import main as train_main
    ckpt = train_main(["--data", str(training_images(tmp_path / "data")),
                       "--out", str(tmp_path / "run"), "--n", "8", "--m", "12",
                       "--encoder-blocks", "6", "--batch", "2", "--crop", "64",
                       "--final-crop", "64", "--max-steps", "2", "--kodak", "", "--threads", "1"])
    model, opt_state, state = load_checkpoint(ckpt)
    assert model.config.encoder_blocks == 6 and "g_a.enc8_5.body.4.weight" in opt_state["names"]
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("g_a.") and name.endswith(".weight") and p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    save_checkpoint(ckpt, model, torch.optim.Adam(model.parameters()), state)
    export_main([str(ckpt), "--model-id", "tiny-encoder", "--out", str(tmp_path / "weights")])
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tmp_path / "weights"))

    image = sample.crop((0, 0, 448, 320))
    codec = Codec("tiny-encoder", tile_size=None)
    data = codec.compress(image, quality=60)
    monkeypatch.setattr(tiling, "WHOLE_IMAGE_PIXELS", 0)
    monkeypatch.setattr(tiling, "WINDOW_CORE", 192)
    assert len(tiling.windows(448, 320)) > 1
    assert codec.compress(image, quality=60) == data
    assert np.asarray(codec.decompress(data)).shape == (320, 448, 3)
