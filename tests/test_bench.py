"""bench/: metric sanity checks and the --quick run end to end, so the suite never rots."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
KODAK = ROOT.parent / "shared" / "data" / "kodak"
sys.path.insert(0, str(ROOT))  # bench/ is a top-level folder, not part of the installed package

for mod in ("pytorch_msssim", "bjontegaard", "matplotlib"):  # bench/requirements.txt
    pytest.importorskip(mod)

from bench import codecs, metrics  # noqa: E402


def test_psnr_known_values():
    a = np.zeros((4, 4, 3), np.uint8)
    assert metrics.psnr(a, a) == metrics.PSNR_CAP
    assert metrics.psnr(a, a + 1) == pytest.approx(10 * np.log10(255**2), abs=1e-9)


def test_ms_ssim_identity_and_order():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (192, 192, 3), dtype=np.uint8)
    noisy = np.clip(ref + rng.normal(0, 20, ref.shape), 0, 255).astype(np.uint8)
    assert metrics.ms_ssim(ref, ref) == pytest.approx(1.0)
    assert metrics.ms_ssim(ref, noisy) < 0.99
    assert np.isnan(metrics.ms_ssim(ref[:100], ref[:100]))  # too small for 5 scales


def test_bd_rate_half_the_bits_is_minus_50():
    rates, psnr = [0.25, 0.5, 1.0, 2.0], [28.0, 31.0, 34.0, 37.0]
    v, lo, hi = metrics.bd_rate((rates, psnr), ([r / 2 for r in rates], psnr))
    assert v == pytest.approx(-50.0, abs=1e-6)
    assert (lo, hi) == (28.0, 37.0)
    # A point that lowers quality as rate grows is dropped rather than breaking PCHIP.
    assert metrics.monotone([1, 2, 3], [30, 29, 31]) == ([1, 3], [30, 31])


def test_pillow_codecs_round_trip():
    from PIL import Image

    # A smooth synthetic image: no data needed, and any lossy codec keeps it above 25 dB.
    yy, xx = np.mgrid[0:96, 0:128]
    img = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).astype(np.uint8)
    for c in codecs.all_codecs():
        if c.name == "aecodec" or c.unavailable():
            continue
        out = c.decode(c.encode(Image.fromarray(img), c.quick_qualities[1]))
        assert out.shape == img.shape and out.dtype == np.uint8, c.name
        assert metrics.psnr(img, out) > 25, c.name


def test_other_shipped_models_run_under_their_own_names():
    from aecodec import weights
    names = [f"aecodec-{m}" for m in weights.manifest()["models"]] + ["aecodec-no-such-model"]
    extra = {c.name: c for c in codecs.all_codecs(names=names) if c.name.startswith("aecodec-")}
    assert set(extra) == set(names)
    assert "unknown model id 'no-such-model'" in extra["aecodec-no-such-model"].unavailable()
    some = sorted(weights.manifest()["models"])[0]
    assert codecs.by_name(f"aecodec-{some}").unavailable() is None
    assert codecs.by_name("aecodec").label == "aecodec"


def test_effort_runs_under_its_own_name():
    c = codecs.by_name("aecodec-effort2")
    assert (c.name, c.effort, c.label) == ("aecodec-effort2", 2, "aecodec effort 2")
    assert "effort=2" in c.settings


@pytest.mark.skipif(not KODAK.exists(), reason="../shared/data/kodak not present")
def test_quick_run(tmp_path):
    # A subprocess runs the real command line; aecodec without weights must be a skip, not a failure.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "bench", "run", "--quick", "--data", str(KODAK),
           "--out", str(tmp_path)]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    for f in ("results.json", "results.md", "rd.png", "rd_msssim.png"):
        assert (tmp_path / f).stat().st_size > 0, f
    res = json.loads((tmp_path / "results.json").read_text())
    assert len(res["images"]) == 2 and res["meta"]["threads"] == 1
    names = {c.name for c in codecs.all_codecs()}
    assert set(res["codecs"]) | set(res["skipped"]) == names  # each one ran or says why not
    assert "jpeg420" in res["codecs"]
    for name, entry in res["codecs"].items():
        assert len(entry["points"]) == 3, name
        for p_ in entry["points"]:
            for m in p_["images"].values():
                assert m["bytes"] > 0 and m["encode_s"] > 0 and 5 < m["psnr"] <= 100
                assert 0 < m["ms_ssim"] <= 1
    md = (tmp_path / "results.md").read_text()
    assert "BD-rate vs JPEG 4:2:0" in md and "## Speed" in md
    if "aecodec" in res["skipped"]:
        assert "aecodec" in md  # the note is shown, not silently dropped


def test_latent_block_costs(tmp_path, sample):
    """`python -m bench blocks` on a small image: every block count timed, more blocks cost
    more parameters, and the tables are written."""
    from bench import blocks
    data = tmp_path / "images"
    data.mkdir()
    sample.crop((0, 0, 256, 192)).save(data / "a.png")
    res = blocks.run(data, tmp_path / "out", counts=(0, 2), reps=1, log=lambda *_: None)
    zero, two = res["rows"]
    assert zero["encode_share"] == zero["decode_share"] == 0 and zero["params_m"] == 0
    assert two["params_m"] > 0 and two["g_s_s"] > 0 and res["decode_s"] > 0
    assert "| 2 |" in (tmp_path / "out" / "blocks.md").read_text()
    assert json.loads((tmp_path / "out" / "blocks.json").read_text())["size"] == [256, 192]


def test_interleaved_speed(tmp_path, sample):
    """`python -m bench speed` on two small images: every codec timed on every image, the
    ratios are aecodec's medians over each peer's, and the table is written. Needs compressai
    (bench/README.md), which a fresh install does not have."""
    from bench import speed, speed_compressai
    try:
        speed_compressai.import_models()
    except ImportError:
        pytest.skip("compressai is not installed")
    data = tmp_path / "images"
    data.mkdir()
    for name, box in (("a.png", (0, 0, 128, 128)), ("b.png", (64, 64, 192, 256))):
        sample.crop(box).save(data / name)
    res = speed.run(data, tmp_path / "out", reps=2, images=("a.png", "b.png"), log=lambda *_: None)
    assert [r["image"] for r in res["images"]] == ["a.png", "b.png"]
    med = res["median"]
    for name, r in res["ratio"].items():
        assert r["decode"] == pytest.approx(med["aecodec"]["decode"] / med[name]["decode"])
        assert all(t["encode"] > 0 and t["decode"] > 0 for t in res["images"][0].values()
                   if isinstance(t, dict))
    assert "| bmshj2018-hyperprior |" in (tmp_path / "out" / "speed.md").read_text()


def test_effort_bench_reports_each_effort(tmp_path, small):
    from bench import effort
    small.crop((0, 0, 128, 128)).save(tmp_path / "a.png")
    res = effort.run(tmp_path, tmp_path / "out", images=("a.png",), qualities=(10, 70),
                     efforts=(0, 1), log=lambda *_: None)
    assert [r["effort"] for r in res["rows"]] == [0, 1, 0, 1]
    s = res["summary"]
    assert s[0]["bd_rate_vs_effort0"] == 0.0 and s[0]["encode_time_ratio"] == 1.0
    assert s[1]["encode_time_ratio"] > 1  # ten refinement steps cost more than none
    assert np.isfinite(s[1]["bd_rate_vs_effort0"])
    assert "| 1 | 0 | yes |" in (tmp_path / "out" / "effort.md").read_text()


def test_ratecontrol_bench_with_effort(tmp_path, small):
    """`python -m bench ratecontrol --effort N`: every target through refined encodes, the
    image's range from its refined quality 0 and 100 files, the effort in both reports."""
    import aecodec
    from bench import ratecontrol
    img = small.crop((0, 0, 128, 96)).convert("RGB")
    img.save(tmp_path / "a.png")
    target = round(8 * len(aecodec.compress(img, quality=50)) / (128 * 96), 2)  # in range
    res = ratecontrol.run(tmp_path, tmp_path / "out", targets=(target, 50.0), effort=1,
                          log=lambda *_: None)
    met, beyond = res["rows"]
    assert res["effort"] == 1 and met["in_range"] and not beyond["in_range"]
    assert abs(met["error"]) < 0.03 and res["max_abs_error"] == abs(met["error"])
    report = (tmp_path / "out" / "ratecontrol.md").read_text()
    assert "effort=1" in report and "1 targets outside" in report
    empty = ratecontrol.markdown({**res, "rows": [beyond], "max_abs_error": None})
    assert "No target in any image's quality range" in empty
