"""The training path end to end: a few steps of a tiny model, export, then code with it."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import training_images

import aecodec
from aecodec.weight_files import content_digest
from aecodec.weights import read_arrays
from aecodec.train.loop import main as train_main
from aecodec.train.export import main as export_main


def test_train_export_and_code(tmp_path, monkeypatch):
    data = training_images(tmp_path / "data")
    run = tmp_path / "run"
    argv = ["--data", str(data), "--out", str(run), "--n", "8", "--m", "12", "--batch", "2",
            "--crop", "64", "--final-crop", "64", "--minutes", "5", "--max-steps", "4",
            "--log-every", "2", "--kodak", "", "--threads", "1"]
    ckpt = train_main(argv)
    lines = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [2, 4]
    assert {"loss", "bpp", "psnr", "img_per_s"} <= set(lines[0])
    # Resuming continues from the checkpoint's step; a run with an eval folder ends with an
    # eval of its last step.
    train_main(argv[:-6] + ["--max-steps", "6", "--log-every", "2", "--kodak", str(data),
                            "--resume", str(ckpt)])
    lines = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert lines[-2]["step"] == lines[-1]["step"] == 6
    assert [r["level"] for r in lines[-1]["eval"]] == [0, 3, 7]

    weights = tmp_path / "weights"
    export_main([str(ckpt), "--model-id", "tiny-test", "--out", str(weights)])
    manifest = json.loads((weights / "manifest.json").read_text())
    assert manifest["default"] == "tiny-test"
    assert manifest["models"]["tiny-test"]["config"]["n"] == 8

    # Fine-tuning starts from shipped weights as well as from checkpoints.
    tuned = train_main(["--data", str(data), "--out", str(tmp_path / "tuned"), "--batch", "2",
                        "--crop", "64", "--final-crop", "64", "--max-steps", "1", "--kodak", "",
                        "--threads", "1", "--resume", str(weights)])
    assert tuned.exists()

    monkeypatch.setenv("AECODEC_WEIGHTS", str(weights))
    codec = aecodec.Codec("tiny-test")
    img = Image.open(data / "img0.png")
    out = codec.decompress(codec.compress(img, quality=80))
    assert out.size == img.size

    # A new default stores the models already there as differences from it (the same arrays
    # come back), and what they made decodes as before.
    made = codec.compress(img, quality=80)
    pixels = np.asarray(codec.decompress(made))
    arrays = read_arrays(weights, "tiny-test")
    export_main([str(tuned), "--model-id", "tiny-v1", "--out", str(weights)])
    manifest = json.loads((weights / "manifest.json").read_text())
    assert manifest["default"] == "tiny-v1" and manifest["models"]["tiny-test"]["base"] == "tiny-v1"
    assert sorted(p.name for p in weights.glob("*.npz")) == ["tiny-test.delta-tiny-v1.npz",
                                                           "tiny-v1.npz"]
    assert content_digest(read_arrays(weights, "tiny-test")) == content_digest(arrays)
    assert np.array_equal(np.asarray(aecodec.Codec("tiny-test").decompress(made)), pixels)

    # A new default retires its predecessor in the same step; a bad retirement writes nothing.
    before = (weights / "manifest.json").read_text()
    for bad in (["--retire", "no-such-model"], ["--retire", "tiny-v2"]):
        with pytest.raises(SystemExit):
            export_main([str(ckpt), "--model-id", "tiny-v2", "--out", str(weights), *bad])
    assert (weights / "manifest.json").read_text() == before
    assert not (weights / "tiny-v2.npz").exists()
    export_main([str(ckpt), "--model-id", "tiny-v2", "--out", str(weights),
                 "--retire", "tiny-test"])
    manifest = json.loads((weights / "manifest.json").read_text())
    assert manifest["default"] == "tiny-v2" and list(manifest["models"]) == ["tiny-v1", "tiny-v2"]
    assert manifest["retired"] == {"tiny-test": {}}  # no git checkout here: no commit to name
    assert sorted(p.name for p in weights.glob("*.npz")) == ["tiny-v1.delta-tiny-v2.npz",
                                                           "tiny-v2.npz"]


def test_bf16_autocast_default_follows_the_cpu(tmp_path):
    """bf16 autocast by default only where it is native (emulated bf16 is 10x slower)."""
    from aecodec.hardware import native_bf16
    info = tmp_path / "cpuinfo"
    info.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    assert not native_bf16(torch.device("cpu"), info)
    info.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    assert native_bf16(torch.device("cpu"), info)
    assert not native_bf16(torch.device("cpu"), tmp_path / "missing")
    assert native_bf16(torch.device("cuda"), tmp_path / "missing")


def test_forced_autocast_on_emulated_bf16_warns(tmp_path, monkeypatch, capsys):
    """--autocast where bf16 is emulated trains as asked, but says it is the slow choice."""
    from aecodec.train import loop
    data = training_images(tmp_path / "data")
    argv = ["--data", str(data), "--n", "8", "--m", "12", "--batch", "2", "--crop", "64",
            "--final-crop", "64", "--max-steps", "1", "--kodak", "", "--threads", "1"]
    for native, flag, warned in ((False, "--autocast", True), (True, "--autocast", False),
                                 (False, "--no-autocast", False)):
        monkeypatch.setattr(loop, "native_bf16", lambda device, native=native: native)
        train_main(argv + ["--out", str(tmp_path / f"run-{native}{flag}"), flag])
        captured = capsys.readouterr()
        assert ("autocast True" if flag == "--autocast" else "autocast False") in captured.out
        assert ("emulated" in captured.err) == warned


def test_soup_averages_runs_from_the_same_start(tmp_path):
    """Two runs of different seeds average into a checkpoint that exports and resumes; a run
    with an added block averages with one without; runs of different shapes are refused."""
    from aecodec.train.loop import load_checkpoint
    from aecodec.train.soup import main as soup_main

    data = training_images(tmp_path / "data")

    def run(out, *extra, m=12, steps=2):
        return train_main(["--data", str(data), "--n", "8", "--m", str(m), "--batch", "2",
                           "--crop", "64", "--final-crop", "64", "--minutes", "5",
                           "--max-steps", str(steps), "--kodak", "", "--threads", "1",
                           "--out", str(tmp_path / out), *extra])

    a, b = run("a", "--seed", "1"), run("b", "--seed", "2")
    soup_main([str(a), str(b), "--out", str(tmp_path / "soup.ckpt"), "--kodak", str(data)])
    (ma, _, _), (mb, _, _) = load_checkpoint(a), load_checkpoint(b)
    mixed, opt, state = load_checkpoint(tmp_path / "soup.ckpt")
    assert state["step"] == 2 and opt is not None
    sa, sb = ma.state_dict(), mb.state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)  # the seeds made different runs
    for name, vm in mixed.state_dict().items():
        va, vb = sa[name], sb[name]
        torch.testing.assert_close(vm, (va + vb) / 2 if va.is_floating_point() else va)
    export_main([str(tmp_path / "soup.ckpt"), "--model-id", "soup", "--out", str(tmp_path / "w")])
    assert run("c", "--resume", str(tmp_path / "soup.ckpt"), steps=3).exists()

    # a run with a decoder block beside one without: the block keeps its run's weights
    d = run("d", "--seed", "3", "--decoder-blocks", "1")
    soup_main([str(a), str(d), "--out", str(tmp_path / "grown.ckpt")])
    grown, _, _ = load_checkpoint(tmp_path / "grown.ckpt")
    sd = load_checkpoint(d)[0].state_dict()
    assert grown.config.decoder_blocks == 1
    for name, vm in grown.state_dict().items():
        want = sd[name] if name.startswith("g_s.dec8_0.") or not sd[name].is_floating_point() \
            else (sa[name] + sd[name]) / 2
        torch.testing.assert_close(vm, want)

    with pytest.raises(ValueError, match="cannot be averaged"):
        soup_main([str(a), str(run("m16", m=16)), "--out", str(tmp_path / "bad.ckpt")])
    with pytest.raises(ValueError, match="cannot be averaged"):  # neither grows into the other
        soup_main([str(d), str(run("e", "--encoder-blocks", "1")), "--out", str(tmp_path / "x")])


def test_soup_of_equal_weights_is_them_bit_for_bit():
    """A weight every run left alone stays what it was, -0.0 included: the restoration pairs
    know their decoder by a hash of its bytes, and a soup of runs that trained only the
    restoration network must still match them."""
    from aecodec.train.soup import average_state
    w = torch.tensor([-0.0, 0.0, 1.5, -2.25])
    state = average_state([{"w": w}, {"w": w.clone()}, {"w": w.clone()}])
    assert state["w"].numpy().tobytes() == w.numpy().tobytes()
    assert torch.equal(average_state([{"w": w}, {"w": w + 1}])["w"], w + 0.5)


def test_accum_sums_micro_batches_into_one_step(tmp_path, monkeypatch):
    """--accum K draws K batches per optimizer step (the batch a GPU run uses, on one thread)."""
    from aecodec.train import loop
    calls = []
    draw = loop.CropSampler.batch
    monkeypatch.setattr(loop.CropSampler, "batch",
                        lambda self, n, crop: calls.append(n) or draw(self, n, crop))
    steps = []
    clipped = loop.clipped_step
    monkeypatch.setattr(loop, "clipped_step",
                        lambda *a, **k: steps.append(len(calls)) or clipped(*a, **k))
    data = training_images(tmp_path / "data")
    argv = ["--data", str(data), "--n", "8", "--m", "12", "--batch", "2", "--crop", "64",
            "--final-crop", "64", "--minutes", "5", "--log-every", "2", "--kodak", "",
            "--threads", "1"]
    ckpt = train_main(argv + ["--out", str(tmp_path / "run"), "--max-steps", "2", "--accum", "3"])
    assert calls == [2] * 6 and steps == [3, 6]
    assert torch.load(ckpt, weights_only=False)["state"]["step"] == 2
    log = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert log["step"] == 2 and log["loss"] > 0
    with pytest.raises(SystemExit):
        train_main(argv + ["--out", str(tmp_path / "bad"), "--accum", "0"])
