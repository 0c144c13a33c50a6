"""Widening y (aecodec.train.widen): the widened model computes what the narrower one did,
its new channels are new slices free to learn, and it trains, ships and codes like any model."""
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import training_images
from test_latent_blocks import trained_steps

import aecodec
from aecodec.model import HyperpriorModel, ModelConfig
from aecodec.train.export import main as export_main
from aecodec.train.loop import load_checkpoint, main as train_main, save_checkpoint
from aecodec.train.widen import widen

TINY = ModelConfig(n=8, m=12, slices=3, context_hidden=(8,), lrp_hidden=(8,),
                   checkerboard_hidden=(4,), latent_blocks=1)


@pytest.fixture(scope="module")
def trained():
    """A tiny model with every part (context, residual prediction, checkerboard, a latent
    block) after a few steps, so that no weight is still at its initial zero."""
    torch.manual_seed(5)
    model = HyperpriorModel(TINY)
    opt = trained_steps(model, steps=3)
    return model, opt


def test_widened_model_computes_what_the_narrow_one_did(trained):
    model, _ = trained
    wide = widen(model, 20).eval()
    model.eval()
    assert (wide.config.m, wide.config.slices) == (20, 5)
    # the inner widths that run at decode time stay those of the narrow model
    assert wide.config.h_s_hidden == (12, 18) and wide.config.latent_block_mid == 6
    x = torch.rand(1, 3, 64, 128)
    t = torch.tensor([5.0])
    with torch.no_grad():
        gain, inv_gain = model.gains(t)
        wgain, winv_gain = wide.gains(t)
        y, wy = model.g_a(x) * gain, wide.g_a(x) * wgain
        assert torch.allclose(wy[:, :12], y, atol=1e-6)
        z = torch.round(model.h_a(y))
        assert torch.equal(torch.round(wide.h_a(wy)), z)
        mu, log_sigma = model.h_s(z).chunk(2, dim=1)
        wmu, wlog_sigma = wide.h_s(z).chunk(2, dim=1)
        assert torch.allclose(wmu[:, :12], mu, atol=1e-6)
        assert torch.allclose(wlog_sigma[:, :12], log_sigma, atol=1e-6)
        # new channels: mean 0, one typical scale
        assert torch.equal(wmu[:, 12:], torch.zeros_like(wmu[:, 12:]))
        assert torch.allclose(wlog_sigma[:, 12:], wlog_sigma[:1, 12:13, :1, :1])
        bits, y_hat, mean = model.code_y(y, mu, log_sigma, noise=False)
        wbits, wy_hat, wmean = wide.code_y(wy, wmu, wlog_sigma, noise=False)
        assert torch.allclose(wy_hat[:, :12], y_hat, atol=1e-5)
        x_hat = model.g_s(model.reconstruct(y_hat, mean) * inv_gain)
        wx_hat = wide.g_s(wide.reconstruct(wy_hat, wmean) * winv_gain)
        assert torch.allclose(wx_hat, x_hat, atol=1e-5)
        # the new channels are alive, about as large as the old ones (not all rounded to
        # zero, so g_s's new weights get gradients); they cost bits until then
        assert wy[:, 12:].abs().mean() > 0.3 * y.abs().mean() and float(wbits) > float(bits)


def test_widening_refuses_what_it_cannot_do(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="multiple of the slice width"):
        widen(model, 14)
    with pytest.raises(ValueError, match="must exceed"):
        widen(model, 12)
    with pytest.raises(ValueError, match="channel-context"):
        widen(HyperpriorModel(ModelConfig(n=8, m=12)), 24)


def test_config_round_trips_and_old_configs_load():
    config = widen(HyperpriorModel(TINY), 16).config
    assert ModelConfig.from_dict(config.to_dict()) == config
    old = {k: v for k, v in TINY.to_dict().items() if k not in ("h_s_hidden", "latent_block_mid")}
    assert ModelConfig.from_dict(old) == TINY


def widen_by_flag(trained, tmp_path, *options: str):
    """Training data and the checkpoint of `python -m aecodec.train --widen 16` run from the
    tiny model's checkpoint (3 steps) to step 4."""
    model, opt = trained
    save_checkpoint(tmp_path / "narrow.ckpt", model, opt, {"step": 3})
    data = training_images(tmp_path / "data")
    return data, train_main(["--data", str(data), "--out", str(tmp_path / "run"),
                             "--batch", "2", "--crop", "64", "--final-crop", "64",
                             "--max-steps", "4", "--kodak", "", "--threads", "1",
                             "--resume", str(tmp_path / "narrow.ckpt"), "--widen", "16",
                             *options])


def test_widen_flag_trains_exports_and_codes(trained, tmp_path, monkeypatch):
    data, ckpt = widen_by_flag(trained, tmp_path)
    wide, opt_state, state = load_checkpoint(ckpt)
    assert wide.config.m == 16 and state["step"] == 4
    # Adam kept the moments of unchanged parameters; widened ones started afresh
    group = opt_state["param_groups"][0]
    steps = {n: float(opt_state["state"][i]["step"]) for n, i in zip(opt_state["names"],
                                                                    group["params"])}
    assert steps["g_s.1.beta_raw"] == 4 and steps["g_a.6.weight"] == 1

    export_main([str(ckpt), "--model-id", "tiny-wide", "--out", str(tmp_path / "weights")])
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tmp_path / "weights"))
    codec = aecodec.Codec("tiny-wide")
    img = Image.open(data / "img0.png")
    data_ = codec.compress(img, quality=90)
    out = codec.decompress(data_)
    assert out.size == img.size and np.array_equal(np.asarray(codec.decompress(data_)),
                                                   np.asarray(out))


def test_new_only_training_moves_only_the_new_entries(trained, tmp_path):
    data, ckpt = widen_by_flag(trained, tmp_path, "--new-only", "--lr", "1e-2")
    trained_wide = load_checkpoint(ckpt)[0].state_dict()
    start = widen(trained[0], 16).state_dict()
    g_a_last = trained_wide["g_a.6.weight"]
    assert torch.equal(g_a_last[:12], start["g_a.6.weight"][:12])  # old rows kept
    assert not torch.equal(g_a_last[12:], start["g_a.6.weight"][12:])  # new rows trained
    assert torch.equal(trained_wide["g_s.1.beta_raw"], start["g_s.1.beta_raw"])
    assert not torch.equal(trained_wide["spatial.nets.3.0.weight"],
                           start["spatial.nets.3.0.weight"])
    with pytest.raises(SystemExit):
        train_main(["--data", str(data), "--out", str(tmp_path / "bad"), "--new-only"])


def test_rate_slices_count_only_the_first_slices(trained):
    wide = widen(trained[0], 20).eval()
    y, mu, log_sigma = (torch.randn(1, 20, 4, 4) * 3 for _ in range(3))
    with torch.no_grad():
        bits = [wide.code_y(y, mu, log_sigma, noise=False, rate_slices=k)[0]
                for k in (None, 5, 3, 0)]
    assert torch.equal(bits[0], bits[1]) and 0 < float(bits[2]) < float(bits[0])
    assert float(bits[3]) == 0


def test_wider_context_networks_compute_what_the_narrow_ones_did(trained):
    """widen_hidden: the same bits, y_hat and means from wider context networks, whose new
    channels are alive (non-zero inputs) and whose way out starts at zero."""
    from aecodec.train.widen import widen_hidden
    model, _ = trained
    wide = widen_hidden(model, context_hidden=(16,), checkerboard_hidden=(6,)).eval()
    model.eval()
    assert (wide.config.context_hidden, wide.config.checkerboard_hidden) == ((16,), (6,))
    assert wide.context.nets[0][0].weight[8:].abs().sum() > 0
    assert wide.context.nets[0][2].weight[:, 8:].abs().sum() == 0
    y = torch.randn(2, 12, 8, 8) * 4
    with torch.no_grad():
        mu, log_sigma = model.h_s(torch.round(model.h_a(y))).chunk(2, dim=1)
        for a, b in zip(model.code_y(y, mu, log_sigma, noise=False),
                        wide.code_y(y, mu, log_sigma, noise=False)):
            assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="does not widen"):
        widen_hidden(model, context_hidden=(4,))
    with pytest.raises(ValueError, match="does not widen"):
        widen_hidden(model, context_hidden=(8, 8))
    with pytest.raises(ValueError, match="not a hidden width"):
        widen_hidden(model, lrp_hidden=(16,))
