"""Checkpoints brought back from a lent GPU machine in parts (aecodec.train.device), and the
training legs that stop mid-schedule (--stop-minutes)."""
import json

import pytest
import torch

from conftest import training_images

from aecodec.train import device
from aecodec.train.device import pack, unpack
from aecodec.train.loop import load_checkpoint, main as train_main

TINY = ["--n", "8", "--m", "12", "--batch", "2", "--crop", "64", "--final-crop", "64",
        "--kodak", "", "--threads", "1", "--log-every", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("device")
    data = training_images(tmp / "data")
    ckpt = train_main(["--data", str(data), "--out", str(tmp / "run"), "--minutes", "5",
                       "--max-steps", "2", *TINY])
    return tmp, data, ckpt


def test_pack_unpack_round_trip(tiny_run, tmp_path):
    _, _, ckpt = tiny_run
    parts = pack(ckpt, tmp_path / "parts", part_bytes=20_000)
    assert len(parts) > 1 and all(p.stat().st_size <= 20_000 for p in parts)
    out = unpack(tmp_path / "parts", tmp_path / "back.ckpt")
    model, opt, state = load_checkpoint(out)
    original, original_opt, original_state = load_checkpoint(ckpt)
    assert opt is None and original_opt is not None  # Adam's moments stay behind
    assert state == original_state
    for (k, a), (_, b) in zip(model.state_dict().items(), original.state_dict().items()):
        assert torch.equal(a, b), k


def test_half_pack_rounds_only_the_large_tensors(tiny_run, tmp_path, monkeypatch):
    _, _, ckpt = tiny_run
    monkeypatch.setattr(device, "HALF_FROM", 64)  # the tiny model's kernels count as large
    full = sum(p.stat().st_size for p in pack(ckpt, tmp_path / "full"))
    half = sum(p.stat().st_size for p in pack(ckpt, tmp_path / "half", half=True))
    assert half < 0.75 * full
    model, opt, _ = load_checkpoint(unpack(tmp_path / "half", tmp_path / "back.ckpt"))
    original, _, _ = load_checkpoint(ckpt)
    assert opt is None
    rounded = 0
    for (k, a), (_, b) in zip(model.state_dict().items(), original.state_dict().items()):
        assert a.dtype == b.dtype, k  # loading restores float32
        if b.is_floating_point() and b.numel() >= 64:
            assert torch.equal(a, b.half().float()), k
            rounded += 1
        else:
            assert torch.equal(a, b), k
    assert rounded > 0


@pytest.mark.parametrize("damage", ["flip", "missing"])
def test_unpack_refuses_damaged_parts(tiny_run, tmp_path, damage):
    _, _, ckpt = tiny_run
    parts = pack(ckpt, tmp_path / "parts", part_bytes=20_000)
    if damage == "flip":
        data = bytearray(parts[1].read_bytes())
        data[100] ^= 1
        parts[1].write_bytes(bytes(data))
    else:
        parts[-1].unlink()
    with pytest.raises((SystemExit, FileNotFoundError)):
        unpack(tmp_path / "parts", tmp_path / "back.ckpt")
    assert not (tmp_path / "back.ckpt").exists()


def test_leg_stops_mid_schedule_and_the_next_continues(tiny_run, tmp_path):
    _, data, ckpt = tiny_run
    parts = tmp_path / "parts"
    pack(ckpt, parts)
    back = unpack(parts, tmp_path / "back.ckpt")
    run = tmp_path / "leg"
    # a leg with no time left ends at once with a checkpoint, the schedule unfinished
    first = train_main(["--data", str(data), "--out", str(run), "--resume", str(back),
                        "--minutes", "5", "--stop-minutes", "0", *TINY])
    _, _, state = load_checkpoint(first)
    assert state["step"] == 2 and state["seconds"] < 5 * 60
    # the next leg goes on from there (a fresh Adam: the packed checkpoint had none)
    second = train_main(["--data", str(data), "--out", str(run), "--resume", str(first),
                         "--minutes", "5", "--max-steps", "4", *TINY])
    _, opt, state = load_checkpoint(second)
    assert state["step"] == 4 and opt is not None
    steps = [json.loads(l)["step"] for l in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [3, 4]
