"""The restoration network after g_s: added to a trained model it changes nothing until
trained, it never changes a file's bytes, the processing windows widen with what it sees,
and aecodec.train.restoration trains it alone from decoded pairs, resumably."""
import json

import numpy as np
import pytest
import torch

from conftest import psnr, training_images
from aecodec import tiling
from aecodec.model import HyperpriorModel, ModelConfig, extend
from aecodec.nn.restoration import Restoration, radius
from test_encoder_decoder_blocks import one_pass_then_windows, small_windows, trained_and_grown


def test_an_added_network_starts_as_the_identity():
    model, grown, added = trained_and_grown(8, restoration_hidden=(6, 6))
    assert added and all(k.startswith("restoration.") for k in added)
    y = torch.randn(2, grown.config.m, 4, 4)
    with torch.no_grad():
        assert torch.equal(grown.synthesize(y, torch.tensor([0.0, 6.5])), model.g_s(y))
    config = ModelConfig.from_dict(json.loads(json.dumps(grown.config.to_dict())))
    assert config == grown.config and config.restoration_hidden == (6, 6)
    older = {k: v for k, v in config.to_dict().items() if k != "restoration_hidden"}
    assert ModelConfig.from_dict(older).restoration_hidden == ()
    assert HyperpriorModel(ModelConfig.from_dict(older)).restoration is None
    for bad in ({"restoration_hidden": [], "restoration_low": [8]},
                {"restoration_low": [], "restoration_lower": [8]},
                {"restoration_low": [8], "restoration_lower": [], "restoration_lowest": [8]}):
        with pytest.raises(ValueError, match="restoration scale"):
            ModelConfig.from_dict({**config.to_dict(), **bad})


@pytest.mark.parametrize("hidden, low, lower, lowest", [
    ((8,), (), (), ()), ((8, 8), (8, 8), (), ()), ((8,), (8,), (), ()), ((8,), (8,), (8, 8), ()),
    ((8, 8), (8, 8), (8,), ()), ((8,), (8,), (8,), (8, 8))])
def test_the_network_depends_on_the_level_and_stays_within_its_reach(hidden, low, lower, lowest):
    torch.manual_seed(3)
    net = Restoration(hidden, levels=8, low=low, lower=lower, lowest=lowest)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    reach, grid = radius(hidden, low, lower, lowest), net.grid
    assert grid == (16 if lowest else 8 if lower else 4 if low else 2) and reach % grid == 0
    # a pixel anywhere in the grid cell at c, with room for the reach and more on each side
    c = reach + 2 * grid
    x = torch.rand(1, 3, 2 * c + grid, 2 * c + grid, dtype=torch.float64)
    net = net.double()
    with torch.no_grad():
        assert not torch.equal(net(x, torch.tensor([0.0])), net(x, torch.tensor([7.0])))
        # a changed pixel moves outputs on its grid cell grown by the reach, no further,
        # wherever it lies in that cell; and the reach is no more than a cell too generous
        farthest = 0
        for d in range(grid):
            bumped = x.clone()
            bumped[0, :, c + d, c + d] += 0.5
            moved = (net(bumped, torch.tensor([3.0])) - net(x, torch.tensor([3.0]))).abs().sum(1)[0]
            rows, cols = torch.nonzero(moved > 0, as_tuple=True)
            for lo, hi in ((rows.min(), rows.max()), (cols.min(), cols.max())):
                farthest = max(farthest, c - int(lo), int(hi) - (c + grid - 1))
        assert reach - grid < farthest <= reach
    with pytest.raises(ValueError, match="at least one hidden layer"):
        Restoration((), levels=8)
    with pytest.raises(ValueError, match="lower widths need low widths"):
        Restoration((8,), levels=8, lower=(8,))
    with pytest.raises(ValueError, match="lowest widths need lower widths"):
        Restoration((8,), levels=8, low=(8,), lowest=(8,))


def test_the_reach_of_each_design():
    assert radius((8,)) == 4 and radius((32, 32, 32)) == 8
    assert radius((32, 32), (64, 64)) == 12 and radius((32,), (64, 64)) == 12  # on its grid
    assert radius((32, 32, 32), (64, 64)) == 16  # 2 * 4 + (4 * 1 + 2) = 14, on the 4-px grid
    assert radius((32, 32, 32), (64, 64), (96, 96, 96)) == 40  # 14 + (8 * 2 + 4) = 34
    assert radius((32, 32, 32), (64, 64), (96, 96, 96), (96, 96, 96)) == 80  # 34 + (16 * 2 + 8)
    assert radius(()) == 0


def test_window_margin_covers_the_restoration_network():
    assert tiling.window_margin(3, 0, 4) == 112  # cc-v31: 30 + 48 + 32 px
    assert tiling.window_margin(3, 0, 4, radius((32, 32, 32))) == 128  # and 8 px more


@pytest.mark.parametrize("flags, weight", [
    (["--restoration-hidden", "8"], "restoration.body.2.weight"),
    (["--restoration-hidden", "8", "--restoration-low", "8", "8"], "restoration.low.4.weight"),
    (["--restoration-hidden", "8", "--restoration-low", "8", "--restoration-lower", "8", "8"],
     "restoration.lower.4.weight"),
    (["--restoration-hidden", "8", "--restoration-low", "8", "--restoration-lower", "8",
      "--restoration-lowest", "8", "8"], "restoration.lowest.4.weight"),
], ids=["one scale", "two scales", "three scales", "four scales"])
def test_windowed_decoding_with_a_restoration_network(tmp_path, sample, monkeypatch, flags,
                                                      weight):
    """Weights with a restoration network of random weights: decoding window by window gives
    the pixels one pass gives, up to float rounding, and the file is the one the same model
    without the network writes."""
    model, names, codec, image, data = one_pass_then_windows(
        tmp_path, sample, monkeypatch, flags, "restoration", 9)
    assert model.config.restoration_hidden == (8,) and weight in names
    whole = np.asarray(codec.decompress(data), np.int16)
    small_windows(monkeypatch)
    windowed = np.asarray(codec.decompress(data), np.int16)
    assert np.abs(windowed - whole).max() <= 1 and psnr(windowed, whole) > 60
    # a region at odd offsets, across windows: the network runs on the region and its reach
    region = np.asarray(codec.decompress(data, region=(181, 75, 33, 201)), np.int16)
    assert np.array_equal(region, windowed[75:276, 181:214])


def test_restoration_box_keeps_blocks_and_reach():
    outer = tiling.Box(640, 0, 1664, 896)  # a window: its margin wider than any reach
    assert tiling.restoration_box(tiling.Box(768, 0, 1536, 768), outer, 8, 2) == \
        tiling.Box(760, 0, 1544, 776)  # the image's top edge clips it, nothing else
    box = tiling.restoration_box(tiling.Box(771, 5, 779, 9), outer, 8, 2)
    assert box == tiling.Box(762, 0, 788, 18)  # grown to whole 2x2 blocks, then by the reach
    assert all(v % 2 == 0 for v in (box.x0, box.y0, box.x1, box.y1))


@pytest.fixture(scope="module")
def trained_pairs(tmp_path_factory):
    """A tiny trained model's checkpoint and the pairs `pairs` made from it."""
    from aecodec.train.loop import main as train_main
    from aecodec.train.restoration import main as restoration_main
    tmp = tmp_path_factory.mktemp("restoration")
    data = training_images(tmp / "data")
    ckpt = train_main(["--data", str(data), "--out", str(tmp / "run"), "--n", "8", "--m", "12",
                       "--batch", "2", "--crop", "64", "--final-crop", "64", "--max-steps", "2",
                       "--kodak", "", "--threads", "1"])
    pairs = restoration_main(["pairs", "--resume", str(ckpt), "--data", str(data), "--crop", "64",
                              "--levels-per-image", "2", "--out", str(tmp / "pairs.npz")])
    return tmp, ckpt, pairs


def test_pairs_are_what_the_decoder_makes(trained_pairs):
    from aecodec.train.data import load_folder
    from aecodec.train.loop import load_checkpoint
    from aecodec.train.restoration import synthesized
    tmp, ckpt, pairs = trained_pairs
    model = load_checkpoint(ckpt)[0].eval()
    images = load_folder(tmp / "data", min_side=64)
    with np.load(pairs) as d:
        x, x_hat, level, image, offset = (d[k] for k in ("x", "x_hat", "level", "image", "offset"))
    assert x.shape[1:] == (3, 64, 64) and x.dtype == np.uint8 and x_hat.dtype == np.float16
    assert len(x) == 2 * len(images) and sorted(set(image.tolist())) == list(range(len(images)))
    assert (level >= 0).all() and (level <= 7).all() and len(set(level.tolist())) == len(x)
    assert (offset % 2 == 0).all()  # crops keep the 2x2 blocks of the whole image
    for k in (0, len(x) - 1):
        (r, c), img = offset[k], images[image[k]]
        assert np.array_equal(x[k], img[r:r + 64, c:c + 64].transpose(2, 0, 1))
        whole = synthesized(model, img, float(level[k]))
        assert whole.shape == (3, *img.shape[:2])
        assert np.array_equal(x_hat[k], whole[:, r:r + 64, c:c + 64].astype(np.float16))


def test_fit_trains_the_network_alone_and_resumes(trained_pairs):
    from aecodec.train.loop import load_checkpoint
    from aecodec.train.restoration import main as restoration_main
    tmp, ckpt, pairs = trained_pairs
    before = load_checkpoint(ckpt)[0].state_dict()
    args = ["fit", "--resume", str(ckpt), "--pairs", str(pairs), "--hidden", "8", "8",
            "--crop", "32", "--batch", "4", "--max-steps", "3", "--log-every", "1",
            "--kodak", "", "--out", str(tmp / "fit"), "--threads", "1"]
    out = restoration_main(args)
    model, opt_state, state = load_checkpoint(out)
    assert state["step"] == 3 and model.config.restoration_hidden == (8, 8)
    assert all(n.startswith("restoration.") for n in opt_state["names"])
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # the rest is frozen
    assert not torch.equal(after["restoration.body.4.weight"], torch.zeros(12, 8, 3, 3))
    log = [json.loads(line) for line in open(tmp / "fit" / "log.jsonl")]
    assert [r["step"] for r in log if "relative_error" in r] == [1, 2, 3]
    assert "held_out_db" in log[-1]
    # resuming its own checkpoint continues the run
    args[args.index("--resume") + 1] = str(out)
    args[args.index("--max-steps") + 1] = "5"
    model, _, state = load_checkpoint(restoration_main(args))
    assert state["step"] == 5
    with pytest.raises(SystemExit, match="hidden widths"):
        restoration_main(args[:args.index("--hidden")] + ["--hidden", "4"]
                         + args[args.index("--hidden") + 3:])


def test_fit_refuses_pairs_of_another_model(trained_pairs, tmp_path):
    from aecodec.train.loop import load_checkpoint, save_checkpoint
    from aecodec.train.restoration import main as restoration_main
    _, ckpt, pairs = trained_pairs
    model, _, state = load_checkpoint(ckpt)
    with torch.no_grad():
        model.g_s[0].bias.add_(0.01)
    other = tmp_path / "other.ckpt"
    save_checkpoint(other, model, torch.optim.Adam(model.parameters()), state)
    with pytest.raises(SystemExit, match="another model"):
        restoration_main(["fit", "--resume", str(other), "--pairs", str(pairs), "--hidden", "8",
                          "--max-steps", "1", "--crop", "32", "--kodak", "",
                          "--out", str(tmp_path / "fit")])


def test_an_exported_network_keeps_the_bytes_and_changes_the_pixels(trained_pairs, sample,
                                                                     monkeypatch):
    from aecodec.codec import Codec
    from aecodec.train.export import main as export_main
    from aecodec.train.loop import load_checkpoint, save_checkpoint
    tmp, ckpt, _ = trained_pairs
    model, _, state = load_checkpoint(ckpt)
    grown = extend(model, restoration_hidden=(8,))
    torch.manual_seed(5)
    with torch.no_grad():
        for p in grown.restoration.parameters():
            p.normal_(0, 0.1)
    grown_ckpt = tmp / "grown.ckpt"
    save_checkpoint(grown_ckpt, grown, torch.optim.Adam(grown.parameters()), state)
    weights = tmp / "weights-pair"
    export_main([str(ckpt), "--model-id", "tiny-plain", "--out", str(weights)])
    export_main([str(grown_ckpt), "--model-id", "tiny-restored", "--out", str(weights)])
    from aecodec.weights import read_arrays
    stored = read_arrays(weights, "tiny-restored")
    assert {a.dtype for n, a in stored.items() if n.startswith("restoration.")} == {
        np.dtype(np.float16)}  # like the other networks
    monkeypatch.setenv("AECODEC_WEIGHTS", str(weights))
    image = sample.crop((0, 0, 128, 96))
    plain, restored = Codec("tiny-plain"), Codec("tiny-restored")
    a, b = plain.compress(image, quality=40), restored.compress(image, quality=40)
    assert a != b  # the model id and its hash differ ...
    assert plain.decompress(a).size == restored.decompress(b).size == (128, 96)
    pa, pb = np.asarray(plain.decompress(a)), np.asarray(restored.decompress(b))
    assert not np.array_equal(pa, pb)
    from aecodec.container import decode_file
    assert decode_file(a).tile_streams() == decode_file(b).tile_streams()  # ... the bits do not


def test_pairs_in_parts_side_by_side(trained_pairs, tmp_path):
    from aecodec.train.restoration import Pairs, main as restoration_main
    from aecodec.train.loop import load_checkpoint
    tmp, ckpt, whole = trained_pairs
    parts = [restoration_main(["pairs", "--resume", str(ckpt), "--data", str(tmp / "data"),
                               "--crop", "64", "--part", str(i), "2",
                               "--out", str(tmp_path / f"part{i}.npz")]) for i in (0, 1)]
    images = [set(np.load(p)["image"].tolist()) for p in parts]
    assert images == [{0, 2}, {1}]  # every image once, by its index in the whole folder
    pairs = Pairs([str(p) for p in parts], load_checkpoint(ckpt)[0], seed=0)
    assert len(pairs.x) == 6 and len(pairs.held) == 2  # two levels each; image 0 held out
    with pytest.raises(SystemExit, match="the part must be"):
        restoration_main(["pairs", "--resume", str(ckpt), "--data", str(tmp / "data"),
                          "--part", "2", "2", "--out", str(tmp_path / "bad.npz")])


def test_fit_adds_coarser_scales(trained_pairs, tmp_path):
    """To a new network, or to a trained network with fewer scales, which it starts by
    computing."""
    from aecodec.train.loop import load_checkpoint
    from aecodec.train.restoration import main as restoration_main
    tmp, ckpt, pairs = trained_pairs
    base = ["fit", "--pairs", str(pairs), "--batch", "2", "--max-steps", "2", "--kodak", "",
            "--threads", "1", "--crop", "32"]
    with pytest.raises(SystemExit):  # its second scale works on 4x4 pixels
        restoration_main(base[:-1] + ["30", "--resume", str(ckpt), "--hidden", "8", "--low", "8",
                                      "--out", str(tmp_path / "bad")])
    new = restoration_main(base + ["--resume", str(ckpt), "--hidden", "8", "--low", "8",
                                   "--out", str(tmp_path / "new")])
    model, _, state = load_checkpoint(new)
    assert state["step"] == 2 and model.restoration.grid == 4
    assert (model.config.restoration_hidden, model.config.restoration_low) == ((8,), (8,))
    one = restoration_main(base + ["--resume", str(ckpt), "--hidden", "8",
                                   "--out", str(tmp_path / "one")])
    trained = load_checkpoint(one)[0]
    grown = extend(trained, restoration_low=(8, 8))
    x, t = torch.rand(2, 3, 32, 32), torch.tensor([1.0, 5.0])
    with torch.no_grad():
        assert torch.equal(grown.restoration(x, t), trained.restoration(x, t))
    model, _, state = load_checkpoint(restoration_main(
        base + ["--resume", str(one), "--low", "8", "8", "--out", str(tmp_path / "two")]))
    assert state["step"] == 2 and model.config.restoration_low == (8, 8)
    with pytest.raises(SystemExit, match="low widths"):
        restoration_main(base + ["--resume", str(tmp_path / "two" / "last.ckpt"), "--low", "4",
                                 "--out", str(tmp_path / "three")])
    # a third scale inside the trained second one: the same pixels until trained
    two = load_checkpoint(tmp_path / "two" / "last.ckpt")[0]
    grown = extend(two, restoration_lower=(8, 8))
    assert grown.restoration.grid == 8
    with torch.no_grad():
        assert torch.equal(grown.restoration(x, t), two.restoration(x, t))
    with pytest.raises(SystemExit, match="multiple of 8"):  # its blocks are 8x8 pixels
        restoration_main(base[:-1] + ["36", "--resume", str(tmp_path / "two" / "last.ckpt"),
                                      "--lower", "8", "--out", str(tmp_path / "bad3")])
    model, _, state = load_checkpoint(restoration_main(
        base + ["--resume", str(tmp_path / "two" / "last.ckpt"), "--lower", "8",
                "--out", str(tmp_path / "three")]))
    assert state["step"] == 2 and model.config.restoration_lower == (8,)
    assert not torch.equal(model.state_dict()["restoration.lower.0.weight"],
                           grown.state_dict()["restoration.lower.0.weight"])
    with pytest.raises(SystemExit, match="lower widths need low widths"):
        restoration_main(base + ["--resume", str(one), "--lower", "8",
                                 "--out", str(tmp_path / "bad4")])
    # and a fourth inside the third: 16x16-pixel blocks, the same pixels until trained
    three = load_checkpoint(tmp_path / "three" / "last.ckpt")[0]
    grown = extend(three, restoration_lowest=(8, 8))
    assert grown.restoration.grid == 16
    with torch.no_grad():
        assert torch.equal(grown.restoration(x, t), three.restoration(x, t))
    model, _, state = load_checkpoint(restoration_main(
        base + ["--resume", str(tmp_path / "three" / "last.ckpt"), "--lowest", "8", "8",
                "--out", str(tmp_path / "four")]))
    assert state["step"] == 2 and model.config.restoration_lowest == (8, 8)
    with pytest.raises(SystemExit, match="lowest widths need lower widths"):
        restoration_main(base + ["--resume", str(tmp_path / "two" / "last.ckpt"), "--lowest",
                                 "8", "--out", str(tmp_path / "bad5")])


def test_training_windows_lie_on_the_decoders_grid(trained_pairs):
    """The network's blocks lie on the whole image's grid when it decodes; the windows it
    trains and is measured on keep them there, wherever the pairs' crops were taken."""
    from aecodec.train.loop import load_checkpoint
    from aecodec.train.restoration import Pairs
    tmp, ckpt, pairs_path = trained_pairs
    pairs = Pairs([str(pairs_path)], load_checkpoint(ckpt)[0], seed=0)
    pairs.offset = pairs.offset + np.array([2, 6])  # crops off the 4- and 8-px grids
    side = pairs.x.shape[2]
    for grid in (2, 4, 8):
        for _ in range(10):
            ids = pairs.rng.choice(len(pairs.x), 3)
            x, x_hat, t = pairs.crops(ids, 24, grid, pairs.rng)
            assert x.shape == x_hat.shape == (3, 3, 24, 24) and torch.equal(
                t, torch.from_numpy(pairs.level[ids]))
            for k, a in zip(ids, (x * 255).round().to(torch.uint8).numpy()):
                found = [(r, c) for r in range(side - 23) for c in range(side - 23)
                         if np.array_equal(a, pairs.x[k, :, r:r + 24, c:c + 24])
                         or np.array_equal(a[..., ::-1], pairs.x[k, :, r:r + 24, c:c + 24])]
                assert found and all(((pairs.offset[k] + rc) % grid == 0).all() for rc in found)
    x, _, _ = pairs.crops(np.arange(2), 56, 8)  # no rng: each crop's first window
    assert x.shape == (2, 3, 56, 56)
    with pytest.raises(ValueError, match="does not fit"):
        pairs.crops(np.arange(2), 64, 8)


def test_the_joint_loop_gives_a_trained_network_its_second_scale(trained_pairs, tmp_path):
    from aecodec.train.loop import load_checkpoint, main as train_main
    from aecodec.train.restoration import main as restoration_main
    tmp, ckpt, pairs = trained_pairs
    one = restoration_main(["fit", "--resume", str(ckpt), "--pairs", str(pairs), "--hidden", "8",
                            "--batch", "2", "--max-steps", "1", "--kodak", "", "--threads", "1",
                            "--crop", "32", "--out", str(tmp_path / "one")])
    joint = ["--data", str(tmp / "data"), "--batch", "2", "--crop", "64", "--final-crop", "64",
             "--max-steps", "1", "--kodak", "", "--threads", "1"]
    model = load_checkpoint(train_main(joint + ["--resume", str(one), "--restoration-low", "8",
                                                "--out", str(tmp_path / "joint")]))[0]
    assert (model.config.restoration_hidden, model.config.restoration_low) == ((8,), (8,))
    with pytest.raises(SystemExit, match="no restoration network"):
        train_main(joint + ["--resume", str(ckpt), "--restoration-low", "8",
                            "--out", str(tmp_path / "bad")])
