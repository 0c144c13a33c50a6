"""Latent blocks (residual capacity at 1/16 resolution) and growing a trained model: added
modules start as no-ops, Adam's moments carry over by name, and the processing windows widen
with the receptive field."""
import numpy as np
import pytest
import torch

from conftest import psnr, training_images
from aecodec import tiling
from aecodec.model import HyperpriorModel, ModelConfig, extend, without_latent_blocks
from aecodec.nn.transforms import is_latent_block
from aecodec.train.decoder import decoder_parameters
from aecodec.train.loop import adam, load_checkpoint, optimizer_step, save_checkpoint

TINY = ModelConfig(n=8, m=12, slices=3, context_hidden=(8,))


def trained_steps(model: HyperpriorModel, steps: int = 2) -> torch.optim.Adam:
    """A few joint Adam steps, so that every parameter has moments."""
    opt = adam(model, [n for n, _ in model.named_parameters()], None, 1e-3)
    torch.manual_seed(0)
    for _ in range(steps):
        x = torch.rand(2, 3, 64, 64)
        res = model(x, torch.rand(2) * (model.config.levels - 1))
        loss = (res["x_hat"] - x).pow(2).mean() * 100 + res["bits"].mean() / 64**2
        optimizer_step(opt, loss, model.parameters(), 1e-3)
    return opt


def test_added_latent_blocks_start_as_the_identity():
    torch.manual_seed(1)
    model = HyperpriorModel(TINY)
    trained_steps(model)
    grown = extend(model, latent_blocks=2)
    assert {"g_a.res1.body.4.weight", "g_s.res0.body.0.bias"} <= set(grown.state_dict())
    assert {k for k in grown.state_dict() if is_latent_block(k)} == \
        set(grown.state_dict()) - set(model.state_dict())
    assert set(model.state_dict()) < set(grown.state_dict())  # old names kept
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y = model.g_a(x)
        assert torch.equal(grown.g_a(x), y)
        assert torch.equal(grown.g_s(y), model.g_s(y))
    stripped = without_latent_blocks(grown)  # and back: the same weights as before growing
    assert stripped.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in stripped.state_dict().items())
    with pytest.raises(ValueError, match="does not only add"):
        extend(model, m=24)


def test_adam_moments_carry_over_by_name(tmp_path):
    torch.manual_seed(2)
    model = HyperpriorModel(TINY)
    opt = trained_steps(model)
    save_checkpoint(tmp_path / "run.ckpt", model, opt, {"step": 2})
    model, opt_state, _ = load_checkpoint(tmp_path / "run.ckpt")
    before = {n: opt.state[p]["exp_avg_sq"] for n, p in zip(opt_state["names"],
                                                           opt.param_groups[0]["params"])}

    grown = extend(model, latent_blocks=1)
    names = [n for n, _ in grown.named_parameters()]
    carried = adam(grown, names, opt_state, 1e-3)
    named = dict(grown.named_parameters())
    for n in names:
        state = carried.state[named[n]]
        if n in before:
            assert torch.equal(state["exp_avg_sq"], before[n]) and float(state["step"]) == 2
        else:
            assert n.startswith(("g_a.res0.", "g_s.res0.")) and not state

    # the decoder-only run takes the joint run's moments of the decoder's parameters
    decoder = adam(model, decoder_parameters(model), opt_state, 1e-3)
    named = dict(model.named_parameters())
    assert decoder_parameters(model) and all(
        torch.equal(decoder.state[named[n]]["exp_avg_sq"], before[n])
        for n in decoder_parameters(model))


def tiny_weights(tmp, flags: list[str], model_id: str, randomized: str, seed: int):
    """Tiny weights trained for two steps through the CLI with `flags`, then given random
    convolution weights in the transform named by `randomized` ("g_a" or "g_s"), so that what
    a processing window lacks shows in its output, and exported to tmp / "weights"."""
    from aecodec.train.export import main as export_main
    from aecodec.train.loop import main as train_main
    ckpt = train_main(["--data", str(training_images(tmp / "data")), "--out", str(tmp / "run"),
                       "--n", "8", "--m", "12", *flags, "--batch", "2", "--crop", "64",
                       "--final-crop", "64", "--max-steps", "2", "--kodak", "", "--threads", "1"])
    model, opt_state, state = load_checkpoint(ckpt)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(randomized + ".") and name.endswith(".weight") and p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    save_checkpoint(ckpt, model, torch.optim.Adam(model.parameters()), state)
    export_main([str(ckpt), "--model-id", model_id, "--out", str(tmp / "weights")])
    return model, opt_state, tmp / "weights"


@pytest.fixture(scope="module")
def block_weights(tmp_path_factory):
    """Tiny weights with four latent blocks (receptive field 30 + 4 * 16 px, beyond the plain
    64-px margin), random synthesis weights."""
    model, opt_state, weights = tiny_weights(tmp_path_factory.mktemp("blocks"),
                                             ["--latent-blocks", "4"], "tiny-blocks", "g_s", 3)
    assert model.config.latent_blocks == 4 and "g_s.res3.body.4.weight" in opt_state["names"]
    return weights


def test_windows_widen_with_the_latent_blocks(block_weights, sample, monkeypatch):
    """Window by window, g_a and g_s with four blocks give what one pass gives: the margin
    covers the receptive field (with the plain 64 px, pixels near the window edges were off
    by up to 76 levels; with 80 px, by 7)."""
    from aecodec.codec import Codec
    monkeypatch.setenv("AECODEC_WEIGHTS", str(block_weights))
    image = sample.crop((0, 0, 448, 320))
    codec = Codec("tiny-blocks", tile_size=None)
    data = codec.compress(image, quality=60)
    whole = np.asarray(codec.decompress(data), np.int16)
    monkeypatch.setattr(tiling, "WHOLE_IMAGE_PIXELS", 0)
    monkeypatch.setattr(tiling, "WINDOW_CORE", 192)
    assert len(tiling.windows(448, 320)) > 1
    windowed = np.asarray(codec.decompress(data), np.int16)
    assert np.abs(windowed - whole).max() <= 1 and psnr(windowed, whole) > 60
    assert codec.compress(image, quality=60) == data  # g_a in windows: the same file
    assert tiling.window_margin(4) == 96 and tiling.window_margin(2) == tiling.WINDOW_MARGIN


def test_a_block_infers_as_it_trains_and_leaves_its_input_alone():
    from aecodec.nn.transforms import ResidualBottleneck

    torch.manual_seed(3)
    block = ResidualBottleneck(8, 4)
    torch.nn.init.normal_(block.body[-1].weight)  # not the identity it starts as
    x = torch.randn(1, 8, 11, 13)
    before = x.clone()
    with torch.no_grad():
        inferred = block(x)
    assert torch.equal(inferred, block(x).detach()) and torch.equal(x, before)
