"""Bit-exact decoding: golden files, thread counts, batch and tile splits of the hyper path."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aecodec import container
from conftest import GOLDEN, ROOT, psnr

sys.path.insert(0, str(GOLDEN))
from make_golden import symbol_hashes  # noqa: E402

# g_s runs in ordinary float arithmetic after the exact symbols: its result may differ by
# rounding between machines. Tolerance: no pixel off by more than 2 levels, PSNR >= 50 dB.
PIXEL_TOLERANCE = 2
# one folder per shipped model: every model's files must keep decoding exactly
GOLDEN_CASES = sorted((d.name, name) for d in GOLDEN.iterdir() if (d / "golden.json").is_file()
                      for name in json.loads((d / "golden.json").read_text()))


def test_every_shipped_model_has_golden_files():
    from aecodec import weights
    assert {m for m, _ in GOLDEN_CASES} == set(weights.manifest()["models"])


@pytest.mark.parametrize("model,name", GOLDEN_CASES)
def test_golden_symbols_exact_and_pixels_close(codec, model, name):
    expected = json.loads((GOLDEN / model / "golden.json").read_text())[name]
    data = (GOLDEN / model / f"{name}.aec").read_bytes()
    _, lm, tiles = codec.decode_symbols(data)
    assert lm.model_id == expected["model_id"] == model
    assert len(tiles) == expected.get("tiles", 1)
    hashes = symbol_hashes(tiles)
    for field in ("z", "y_mean", "y_rows", "y"):
        assert hashes[field] == expected[field], field
    assert (container.decode_file(data).postfilter is not None) == expected.get("postfilter", False)
    out = np.asarray(codec.decompress(data), dtype=np.int16)
    ref = np.asarray(Image.open(GOLDEN / model / f"{name}.png"), dtype=np.int16)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= PIXEL_TOLERANCE
    assert psnr(out, ref) >= 50


_SCRIPT = textwrap.dedent("""
    import hashlib, sys, torch, numpy as np
    from PIL import Image
    torch.set_num_threads(int(sys.argv[1]))
    import aecodec
    codec = aecodec.Codec()
    if sys.argv[2] == "encode":
        img = Image.open(sys.argv[3]).convert("RGB").crop((0, 0, 320, 256))
        open(sys.argv[4], "wb").write(codec.compress(img, quality=55))
    _, _, tiles = codec.decode_symbols(open(sys.argv[4], "rb").read())
    digest = hashlib.sha256(b"".join(a.astype("<i8").tobytes() for s in tiles
                                     for a in (s.z, s.y, s.y_mean, s.y_rows)))
    np.save(sys.argv[4] + f".{sys.argv[1]}.npy", np.asarray(codec.decompress(sys.argv[4])))
    print(digest.hexdigest())
""")


def test_encode_two_threads_decode_one_thread(tmp_path):
    path = str(tmp_path / "t.aec")
    sample = str(ROOT / "aecodec" / "samples" / "kodim23.png")

    def run(*args):
        return subprocess.run([sys.executable, "-c", _SCRIPT, *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    encoded = run("2", "encode", sample, path)
    decoded = run("1", "decode", "-", path)
    assert encoded == decoded
    a = np.load(path + ".2.npy").astype(np.int16)
    b = np.load(path + ".1.npy").astype(np.int16)
    assert np.abs(a - b).max() <= PIXEL_TOLERANCE


def test_hyper_path_independent_of_batch_and_tiles(codec):
    lm = codec.model
    rng = np.random.default_rng(0)
    z = rng.integers(-6, 7, (lm.config.n, 6, 8))
    mean, log_scale = lm.h_s(z)
    # Same integers whatever else is in the batch or how the plane is split: the transposed
    # convolutions reach 2 z positions, so an overlap of 3 leaves the interior exact.
    left_mean, left_scale = lm.h_s(z[:, :, :5])
    np.testing.assert_array_equal(left_mean[:, :, :8], mean[:, :, :8])
    np.testing.assert_array_equal(left_scale[:, :, :8], log_scale[:, :, :8])
    right_mean, _ = lm.h_s(z[:, :, 3:])
    np.testing.assert_array_equal(right_mean[:, :, 8:], mean[:, :, 20:])
    for other in (z[:, ::-1], z * 0):
        again, _ = lm.h_s(z)
        np.testing.assert_array_equal(again, mean)
        lm.h_s(other)


def test_hyper_path_matches_float_model_closely(codec):
    """The integer h_s is a faithful stand-in for the float one it was made from."""
    lm = codec.model
    z = np.random.default_rng(1).integers(-4, 5, (lm.config.n, 3, 3))
    mean, _ = lm.h_s(z)
    assert np.abs(mean).max() < 2**40  # plain integers, far from the exactness limit
    assert mean.dtype == np.int64


@settings(max_examples=40, deadline=None)
@given(k=st.sampled_from([3, 5]), c_in=st.integers(1, 6), c_out=st.integers(1, 6),
       h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_context_layers_as_products_equal_conv2d(k, c_in, c_out, h, w, seed):
    """The context networks' 'same' convolutions run as k*k shifted matrix products
    (exact._same_conv): the same integers as F.conv2d, whatever the size, one row or column
    included, at magnitudes near the exactness limit."""
    import torch
    import torch.nn.functional as F
    from aecodec.exact import EXACT_LIMIT, WEIGHT_BITS, ExactConvStack, IntLayer, _same_conv
    rng = np.random.default_rng(seed)
    weight = torch.from_numpy(rng.integers(-2**15, 2**15, (c_out, c_in, k, k)).astype(np.float64))
    bias = torch.from_numpy(rng.integers(-2**40, 2**40, c_out).astype(np.float64))
    # activations as large as the stack's bound check lets through
    largest = (EXACT_LIMIT - 2**40) / float(weight.abs().sum(dim=(1, 2, 3)).max())
    a = torch.from_numpy(rng.integers(-int(largest), int(largest), (1, c_in, h, w)).astype(np.float64))
    expected = F.conv2d(a, weight, bias, padding=k // 2)
    assert torch.equal(_same_conv(a, weight, bias), expected)
    stack = ExactConvStack([IntLayer(weight, bias, False, 1, k // 2, 0, False)])
    assert torch.equal(stack.run(a), expected.mul(2.0**-WEIGHT_BITS).floor())
