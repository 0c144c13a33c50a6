"""The channel-context model: cheap context training on a frozen hyperprior, exact slice-wise
coding, and files that decode to the same symbols whatever splits the work."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import psnr, training_images


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny hyperprior (a few steps) and a channel-context model trained on top of it,
    exported side by side into one weights folder."""
    from aecodec.train.context import main as context_main
    from aecodec.train.export import main as export_main
    from aecodec.train.loop import main as train_main
    tmp = tmp_path_factory.mktemp("ctx")
    data = training_images(tmp / "data")
    ckpt = train_main(["--data", str(data), "--out", str(tmp / "hp"), "--n", "8", "--m", "12",
                       "--batch", "2", "--crop", "64", "--final-crop", "64", "--max-steps", "3",
                       "--kodak", "", "--threads", "1"])
    weights = tmp / "weights"
    export_main([str(ckpt), "--model-id", "tiny-hp", "--out", str(weights)])
    cc = context_main(["--base", str(weights), "--base-id", "tiny-hp", "--data", str(data),
                       "--out", str(tmp / "cc"), "--slices", "3", "--hidden", "8", "--crops", "8",
                       "--crop", "64", "--batch", "4", "--max-steps", "6", "--log-every", "3",
                       "--lr", "1e-2", "--threads", "1"])
    log = [json.loads(line) for line in (tmp / "cc" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6] and {"bpp_y", "bpp_y_hyper", "saved"} <= set(log[0])
    export_main([str(cc), "--model-id", "tiny-cc", "--out", str(weights)])
    return weights, data


@pytest.fixture()
def cc_codec(tiny_models, monkeypatch):
    import aecodec
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_models[0]))
    return aecodec.Codec("tiny-cc")


def test_context_weights_ship_integer_slice_networks(tiny_models, monkeypatch):
    from aecodec import weights
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_models[0]))
    manifest = weights.manifest()
    assert manifest["default"] == "tiny-cc"
    assert manifest["models"]["tiny-cc"]["config"]["slices"] == 3
    arrays = weights.read_arrays(tiny_models[0], "tiny-cc")
    assert {"ctx.0.0.weight", "ctx.2.1.bias"} <= set(arrays)
    assert all(arrays[k].dtype.kind == "i" for k in arrays if k.startswith("ctx."))
    lm = weights.load("tiny-cc")
    assert len(lm.context.nets) == 3 and lm.context.size == 4


def test_untrained_context_codes_like_its_hyperprior(tiny_models, monkeypatch):
    """Zero slice networks (the starting point of context training) give the hyperprior's own
    means and tables, slice by slice."""
    from aecodec import weights
    from aecodec.exact import scale_indexes
    from aecodec.train.context import with_context
    from aecodec.train.export import load_float_model
    from aecodec.y_coding import ExactContext, decode_y, encode_y
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_models[0]))
    lm = weights.load("tiny-hp")
    zero = ExactContext.from_float(with_context(load_float_model(tiny_models[0], "tiny-hp"),
                                                3, (8,)).context)
    rng = np.random.default_rng(3)
    z = rng.integers(-3, 4, (8, 2, 3))
    mean, log_scale = lm.h_s(z)
    y = rng.normal(0, 4, mean.shape)
    data, sym, means, rows = encode_y(lm, y, mean, log_scale)
    with_ctx = type(lm)(**{**lm.__dict__, "context": zero})
    data_ctx, sym_ctx, means_ctx, rows_ctx = encode_y(with_ctx, y, mean, log_scale)
    np.testing.assert_array_equal(sym_ctx, sym)
    np.testing.assert_array_equal(means_ctx, mean)
    np.testing.assert_array_equal(rows_ctx, scale_indexes(log_scale, lm.thresholds))
    for model, stream in ((lm, data), (with_ctx, data_ctx)):
        got = decode_y(model, "YSTR", stream, mean, log_scale)
        np.testing.assert_array_equal(got[0], sym)


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (130, 70)])
def test_context_model_round_trips(cc_codec, tiny_models, size):
    """Same transforms as the hyperprior under it, so nearly the same picture (y_hat moves
    only by re-rounding around the context's means)."""
    import aecodec
    img = Image.open(tiny_models[1] / "img0.png").resize(size)
    out = cc_codec.decompress(cc_codec.compress(img, quality=60))
    assert out.size == img.size
    base = aecodec.Codec("tiny-hp")
    assert psnr(out, base.decompress(base.compress(img, quality=60))) > 20


def test_context_model_tiles_and_regions_are_exact(cc_codec, tiny_models):
    import aecodec
    img = Image.open(tiny_models[1] / "img1.png")  # 96x80
    tiled = aecodec.Codec("tiny-cc", tile_size=64)
    data = tiled.compress(img, quality=40)
    full = np.asarray(tiled.decompress(data))
    part = np.asarray(tiled.decompress(data, region=(50, 10, 40, 60)))
    np.testing.assert_array_equal(part, full[10:70, 50:90])
    _, lm, tiles = tiled.decode_symbols(data)
    assert lm.model_id == "tiny-cc" and len(tiles) == 4


def test_context_symbols_match_the_float_model_estimate(cc_codec, tiny_models):
    """The integer slice networks stand in faithfully for the float ones: the rate the float
    model predicts for a tile is what the coder spends, within a few percent."""
    from aecodec.train.export import load_float_model
    model = load_float_model(tiny_models[0], "tiny-cc").eval()
    img = np.asarray(Image.open(tiny_models[1] / "img2.png"))[:64, :64]
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    level = 0.7 * (model.config.levels - 1)
    with torch.no_grad():
        y = model.g_a(x) * model.gains(torch.tensor([level]))[0]
        mu, log_sigma = model.h_s(torch.round(model.h_a(y))).chunk(2, dim=1)
        bits, _, _ = model.code_y(y, mu, log_sigma, noise=False)
    data = cc_codec.compress(Image.fromarray(img), quality=70)
    from aecodec.container import decode_file
    y_bytes = len(decode_file(data).tile_streams()[0][1])
    assert abs(y_bytes * 8 - bits.item()) <= 0.05 * bits.item() + 64


_SCRIPT = textwrap.dedent("""
    import hashlib, sys, torch
    torch.set_num_threads(int(sys.argv[1]))
    import aecodec
    from PIL import Image
    codec = aecodec.Codec(sys.argv[5])
    if sys.argv[2] == "encode":
        img = Image.open(sys.argv[3]).convert("RGB")
        open(sys.argv[4], "wb").write(codec.compress(img, quality=55))
    _, _, tiles = codec.decode_symbols(open(sys.argv[4], "rb").read())
    print(hashlib.sha256(b"".join(a.astype("<i8").tobytes() for s in tiles
                                  for a in (s.z, s.y, s.y_mean, s.y_rows))).hexdigest())
""")


def encode_two_threads_decode_one(weights, image, tmp_path, model_id, monkeypatch):
    monkeypatch.setenv("AECODEC_WEIGHTS", str(weights))
    path = str(tmp_path / "t.aec")

    def run(*args):
        return subprocess.run([sys.executable, "-c", _SCRIPT, *args, model_id], check=True,
                              capture_output=True, text=True).stdout.strip()

    assert run("2", "encode", str(image), path) == run("1", "decode", "-", path)


def test_context_encode_two_threads_decode_one(tiny_models, tmp_path, monkeypatch):
    encode_two_threads_decode_one(tiny_models[0], tiny_models[1] / "img0.png", tmp_path,
                                  "tiny-cc", monkeypatch)


# ----------------------------------------------------------------- latent residual prediction

@pytest.fixture(scope="module")
def tiny_lrp(tiny_models, tmp_path_factory):
    """tiny-cc fine-tuned a few steps with residual prediction added, in its own folder."""
    import shutil
    from aecodec.train.export import main as export_main
    from aecodec.train.loop import main as train_main
    weights, data = tiny_models
    tmp = tmp_path_factory.mktemp("lrp")
    shutil.copytree(weights, tmp / "weights")
    ckpt = train_main(["--data", str(data), "--out", str(tmp / "run"), "--resume", str(weights),
                       "--resume-id", "tiny-cc", "--lrp-hidden", "8", "--batch", "2",
                       "--crop", "64", "--final-crop", "64", "--max-steps", "4", "--lr", "1e-2",
                       "--kodak", "", "--threads", "1"])
    export_main([str(ckpt), "--model-id", "tiny-lrp", "--out", str(tmp / "weights")])
    return tmp / "weights"


def test_residual_prediction_starts_as_a_no_op(tiny_models):
    from aecodec.model import extend
    from aecodec.train.export import load_float_model
    model = extend(load_float_model(tiny_models[0], "tiny-cc"), lrp_hidden=(8,))
    y_hat, mean = torch.randn(2, 12, 3, 5), torch.randn(2, 12, 3, 5)
    torch.testing.assert_close(model.reconstruct(y_hat, mean), y_hat, rtol=0, atol=0)
    with pytest.raises(ValueError, match="only add modules"):
        extend(model, m=24)


def test_residual_prediction_ships_as_floats(tiny_lrp, monkeypatch):
    from aecodec import weights
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_lrp))
    assert weights.manifest()["models"]["tiny-lrp"]["config"]["lrp_hidden"] == [8]
    arrays = weights.read_arrays(tiny_lrp, "tiny-lrp")
    assert {"lrp.nets.0.0.weight", "lrp.nets.2.2.bias"} <= set(arrays)
    assert all(arrays[k].dtype == np.float16 for k in arrays if k.startswith("lrp."))
    assert weights.load("tiny-lrp").net.lrp is not None
    assert weights.load("tiny-cc").net.lrp is None


def test_residual_prediction_shapes_only_the_reconstruction(tiny_lrp, tiny_models, monkeypatch):
    """Decoding uses it (the picture changes without it), tile by tile, so a region decode
    is still exactly the crop of a full decode; the coded symbols do not depend on it."""
    import aecodec
    from aecodec import weights
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_lrp))
    img = Image.open(tiny_models[1] / "img1.png")  # 96x80
    codec = aecodec.Codec("tiny-lrp", tile_size=64)
    data = codec.compress(img, quality=40)
    full = np.asarray(codec.decompress(data))
    assert full.shape == (80, 96, 3)
    np.testing.assert_array_equal(np.asarray(codec.decompress(data, region=(50, 10, 40, 60))),
                                  full[10:70, 50:90])
    lm = weights.load("tiny-lrp")
    # Not monkeypatch.setattr: its undo deletes a submodule instead of restoring it, which
    # would break the cached model for later tests.
    lrp, lm.net.lrp = lm.net.lrp, None
    try:
        assert not np.array_equal(np.asarray(codec.decompress(data)), full)
    finally:
        lm.net.lrp = lrp
    for size in ((1, 1), (17, 33)):
        small = img.resize(size)
        assert codec.decompress(codec.compress(small, quality=70)).size == size


def test_decoder_fine_tune_keeps_every_coded_byte(tiny_lrp, tiny_models, tmp_path, monkeypatch):
    """`python -m aecodec.train.decoder` trains g_s, the residual prediction and the inverse
    gains only: the same image at the same quality gives the same streams, a different
    picture; the joint loop can continue from its checkpoint."""
    import shutil

    import aecodec
    from aecodec import container
    from aecodec.train.decoder import main as decoder_main
    from aecodec.train.export import load_float_model, main as export_main
    from aecodec.train.loop import load_checkpoint, main as train_main
    data = tiny_models[1]
    weights = tmp_path / "weights"
    shutil.copytree(tiny_lrp, weights)
    ckpt = decoder_main(["--resume", str(weights), "--resume-id", "tiny-lrp", "--data", str(data),
                         "--out", str(tmp_path / "dec"), "--crop", "64", "--batch", "2",
                         "--max-steps", "4", "--log-every", "2", "--lr", "1e-2", "--kodak", "",
                         "--threads", "1"])
    log = [json.loads(line) for line in (tmp_path / "dec" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4] and {"loss", "psnr", "img_per_s"} <= set(log[0])
    before = load_float_model(weights, "tiny-lrp").state_dict()
    after = load_checkpoint(ckpt)[0].state_dict()
    decoder = ("g_s.", "lrp.", "restoration.", "log_inv_gain")
    for name, value in before.items():
        same = torch.equal(value, after[name])
        assert same != name.startswith(decoder), name
    export_main([str(ckpt), "--model-id", "tiny-dec", "--out", str(weights)])
    monkeypatch.setenv("AECODEC_WEIGHTS", str(weights))
    img = Image.open(data / "img2.png")
    old, new = (aecodec.Codec(m).compress(img, quality=60) for m in ("tiny-lrp", "tiny-dec"))
    old_file, new_file = container.decode_file(old), container.decode_file(new)
    assert (new_file.z_stream, new_file.y_stream) == (old_file.z_stream, old_file.y_stream)
    assert not np.array_equal(np.asarray(aecodec.decompress(old)),
                              np.asarray(aecodec.decompress(new)))
    resumed = train_main(["--data", str(data), "--out", str(tmp_path / "joint"),
                          "--resume", str(ckpt), "--batch", "2", "--crop", "64",
                          "--final-crop", "64", "--max-steps", "5", "--kodak", "",
                          "--threads", "1"])
    assert load_checkpoint(resumed)[2]["step"] == 5
    # The same id in another folder is other weights: the in-process cache must tell them apart.
    from aecodec import weights as installed
    export_main([str(ckpt), "--model-id", "tiny-lrp", "--out", str(tmp_path / "other")])
    here = installed.load("tiny-lrp")
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tmp_path / "other"))
    assert installed.load("tiny-lrp").sha256 != here.sha256


def test_rate_fine_tune_moves_only_the_rate_side(tiny_lrp, tiny_models, tmp_path, monkeypatch):
    """`python -m aecodec.train.rate` trains h_a, h_s, the density of z and the context
    networks only (here widened first), logs the held-out bits at both ends, and its export
    codes exactly like any model (its integer networks come from the new floats)."""
    import aecodec
    from aecodec.train.export import load_float_model, main as export_main
    from aecodec.train.loop import load_checkpoint
    from aecodec.train.rate import RATE_MODULES, main as rate_main
    weights, data = tiny_lrp, tiny_models[1]
    ckpt = rate_main(["--resume", str(weights), "--resume-id", "tiny-lrp", "--data", str(data),
                      "--out", str(tmp_path / "rate"), "--crop", "64", "--batch", "2",
                      "--max-steps", "4", "--log-every", "2", "--lr", "1e-2", "--kodak", "",
                      "--threads", "1", "--context-hidden", "12"])
    log = [json.loads(line) for line in (tmp_path / "rate" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 2, 4, 4]
    assert {"bpp", "bpp_z", "steps_per_s"} <= set(log[1]) and log[0]["held_out_bits"] > 0
    assert log[-1]["held_out_saved"] == pytest.approx(
        1 - log[-1]["held_out_bits"] / log[0]["held_out_bits"], abs=1e-4)
    before = load_float_model(weights, "tiny-lrp").state_dict()
    tuned = load_checkpoint(ckpt)[0]
    assert tuned.config.context_hidden == (12,)
    after = tuned.state_dict()
    moved = {name for name, value in before.items() if not torch.equal(value, after[name])}
    assert all(name.startswith(RATE_MODULES) for name in moved)
    # every part of the rate side moved (a tiny model's z may be all zero: not every tensor)
    assert {name.split(".")[0] + "." for name in moved} == set(RATE_MODULES) - {"spatial."}
    out = tmp_path / "weights"
    export_main([str(ckpt), "--model-id", "tiny-rate", "--out", str(out)])
    monkeypatch.setenv("AECODEC_WEIGHTS", str(out))
    img = Image.open(data / "img2.png")
    back = aecodec.decompress(aecodec.Codec("tiny-rate").compress(img, quality=60))
    monkeypatch.setenv("AECODEC_WEIGHTS", str(weights))
    before = aecodec.decompress(aecodec.Codec("tiny-lrp").compress(img, quality=60))
    # the picture moves only where a symbol rounds the other way around a new mean
    assert back.size == img.size and psnr(np.asarray(back), np.asarray(before)) > 30


# ----------------------------------------------------------------- checkerboard context

@pytest.fixture(scope="module")
def tiny_cb(tiny_models, tmp_path_factory):
    """tiny-cc with a checkerboard context trained a few steps on top, in its own folder."""
    import shutil
    from aecodec.train.context import main as context_main
    from aecodec.train.export import main as export_main
    weights, data = tiny_models
    tmp = tmp_path_factory.mktemp("cb")
    shutil.copytree(weights, tmp / "weights")
    ckpt = context_main(["--base", str(weights), "--base-id", "tiny-cc", "--checkerboard", "8",
                         "--data", str(data), "--out", str(tmp / "run"), "--crops", "8",
                         "--crop", "64", "--batch", "4", "--max-steps", "6", "--log-every", "3",
                         "--lr", "2e-2", "--threads", "1"])
    log = [json.loads(line) for line in (tmp / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6]
    assert {"bpp_y", "bpp_y_channel", "saved"} <= set(log[0])
    export_main([str(ckpt), "--model-id", "tiny-cb", "--out", str(tmp / "weights")])
    return tmp / "weights"


def test_checkerboard_starts_as_the_channel_context(tiny_models, monkeypatch):
    """Zero spatial networks (the start of checkerboard training) change nothing: the float
    model's bits and y_hat, and the exact coder's symbols, means and tables."""
    from aecodec import weights
    from aecodec.model import extend
    from aecodec.train.export import load_float_model
    from aecodec.y_coding import ExactContext, encode_y
    base = load_float_model(tiny_models[0], "tiny-cc").eval()
    model = extend(base, checkerboard_hidden=(8,)).eval()
    y = torch.randn(2, 12, 5, 7) * 3
    mu, log_sigma = torch.randn(2, 12, 5, 7), torch.randn(2, 12, 5, 7)
    with torch.no_grad():
        for a, b in zip(base.code_y(y, mu, log_sigma, noise=False),
                        model.code_y(y, mu, log_sigma, noise=False)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_models[0]))
    lm = weights.load("tiny-cc")
    zero = ExactContext.from_float(model.context, model.spatial)
    rng = np.random.default_rng(5)
    mean, log_scale = lm.h_s(rng.integers(-3, 4, (8, 2, 3)))
    y = rng.normal(0, 4, mean.shape)
    plain = encode_y(lm, y, mean, log_scale)
    checker = encode_y(type(lm)(**{**lm.__dict__, "context": zero}), y, mean, log_scale)
    for a, b in zip(plain[1:], checker[1:]):
        np.testing.assert_array_equal(a, b)


def test_checkerboard_ships_integer_networks(tiny_cb, monkeypatch):
    from aecodec import weights
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_cb))
    assert weights.manifest()["models"]["tiny-cb"]["config"]["checkerboard_hidden"] == [8]
    arrays = weights.read_arrays(tiny_cb, "tiny-cb")
    assert {"cb.0.0.weight", "cb.2.1.bias"} <= set(arrays)
    assert all(arrays[k].dtype.kind == "i" for k in arrays if k.startswith("cb."))
    assert arrays["cb.0.0.weight"].shape[2:] == (5, 5)
    assert len(weights.load("tiny-cb").context.spatial) == 3
    assert weights.load("tiny-cc").context.spatial is None


def test_checkerboard_corrects_only_the_second_half(tiny_cb, tiny_models, monkeypatch):
    """Same image, same quality: the anchors get tiny-cc's means, the other half other means
    (the trained correction), and both files decode to what was encoded."""
    import aecodec
    from aecodec.nn.context import anchor_mask
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_cb))
    img = Image.open(tiny_models[1] / "img0.png")
    tiles = {}
    for model_id in ("tiny-cc", "tiny-cb"):
        codec = aecodec.Codec(model_id)
        data = codec.compress(img, quality=60)
        assert codec.decompress(data).size == img.size
        tiles[model_id] = codec.decode_symbols(data)[2][0]
    cc, cb = tiles["tiny-cc"], tiles["tiny-cb"]
    np.testing.assert_array_equal(cc.z, cb.z)
    anchor = anchor_mask(*cc.y_mean.shape[1:])
    first = slice(0, 4)  # slice 0: the same channel context and the same y on both sides
    np.testing.assert_array_equal(cb.y_mean[first][:, anchor], cc.y_mean[first][:, anchor])
    assert not np.array_equal(cb.y_mean[first][:, ~anchor], cc.y_mean[first][:, ~anchor])


def test_checkerboard_tiles_and_regions_are_exact(tiny_cb, tiny_models, monkeypatch):
    import aecodec
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_cb))
    img = Image.open(tiny_models[1] / "img1.png")  # 96x80
    tiled = aecodec.Codec("tiny-cb", tile_size=64)
    data = tiled.compress(img, quality=40)
    full = np.asarray(tiled.decompress(data))
    np.testing.assert_array_equal(np.asarray(tiled.decompress(data, region=(50, 10, 40, 60))),
                                  full[10:70, 50:90])
    for size in ((1, 1), (17, 33), (130, 70)):
        small = img.resize(size)
        assert tiled.decompress(tiled.compress(small, quality=70)).size == size


def test_checkerboard_rate_matches_the_float_model(tiny_cb, tiny_models, monkeypatch):
    """The integer spatial networks stand in for the float ones: the float model's rate for
    a tile is what the coder spends, within a few percent."""
    import aecodec
    from aecodec.container import decode_file
    from aecodec.train.export import load_float_model
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tiny_cb))
    model = load_float_model(tiny_cb, "tiny-cb").eval()
    img = np.asarray(Image.open(tiny_models[1] / "img2.png"))[:64, :64]
    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = model.g_a(x) * model.gains(torch.tensor([0.7 * (model.config.levels - 1)]))[0]
        mu, log_sigma = model.h_s(torch.round(model.h_a(y))).chunk(2, dim=1)
        bits, _, _ = model.code_y(y, mu, log_sigma, noise=False)
    data = aecodec.Codec("tiny-cb").compress(Image.fromarray(img), quality=70)
    y_bytes = len(decode_file(data).tile_streams()[0][1])
    assert abs(y_bytes * 8 - bits.item()) <= 0.05 * bits.item() + 64


def test_checkerboard_encode_two_threads_decode_one(tiny_cb, tiny_models, tmp_path, monkeypatch):
    encode_two_threads_decode_one(tiny_cb, tiny_models[1] / "img0.png", tmp_path, "tiny-cb",
                                  monkeypatch)
