"""Rate control: --size gives the largest file that fits, --bpp the closest to the target."""
import warnings

import pytest
from click.testing import CliRunner

import aecodec
from aecodec.cli import _parse_size, main


def test_size_target_fits_and_is_tight(codec, small):
    smallest = len(codec.compress(small, quality=0))
    largest = len(codec.compress(small, quality=100))
    budget = (smallest + largest) // 2
    data = codec.compress(small, size=budget)
    assert len(data) <= budget
    quality = aecodec.read_header(data)[0].quality
    # One hundredth of quality more would not fit (bisection resolution).
    assert quality == 100 or len(codec.compress(small, quality=quality + 0.01)) > budget


def test_bpp_target_is_close(codec, small):
    pixels = small.width * small.height
    mid = 8 * len(codec.compress(small, quality=50)) / pixels
    data = codec.compress(small, bpp=mid * 1.1)
    assert abs(8 * len(data) / pixels / (mid * 1.1) - 1) < 0.03


def test_unreachable_targets_clamp_and_warn(codec, small):
    with pytest.warns(aecodec.TargetWarning, match="no quality fits 10 bytes"):
        assert codec.compress(small, size=10) == codec.compress(small, quality=0)
    with pytest.warns(aecodec.TargetWarning, match="100 bpp is out of this image's range"):
        assert codec.compress(small, bpp=100) == codec.compress(small, quality=100)
    with pytest.warns(aecodec.TargetWarning, match="quality 0 gives"):
        codec.compress(small, bpp=0.001)


def test_reachable_targets_do_not_warn(codec, small):
    pixels = small.width * small.height
    lowest = 8 * len(codec.compress(small, quality=0)) / pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codec.compress(small, bpp=lowest * 1.02)  # quality 0 answers, within the 3 % slack
        codec.compress(small, size=len(codec.compress(small, quality=30)))


def test_cli_says_when_a_target_is_out_of_reach(small, tmp_path):
    src = tmp_path / "in.png"
    small.save(src)
    r = CliRunner().invoke(main, ["compress", str(src), str(tmp_path / "o.aec"), "--size", "50"])
    assert r.exit_code == 0
    assert "aecodec: warning: no quality fits 50 bytes" in r.output


def test_bad_targets(codec, small):
    with pytest.raises(aecodec.InputError):
        codec.compress(small, bpp=0)
    with pytest.raises(aecodec.InputError):
        codec.compress(small, bpp=1, size=100)


@pytest.mark.parametrize("text,value", [("20000", 20000), ("20KB", 20000), ("1.5MB", 1500000),
                                        ("64KiB", 65536), ("7 kb", 7000)])
def test_parse_size(text, value):
    assert _parse_size(text) == value


def test_cli_size(small, tmp_path):
    src = tmp_path / "in.png"
    small.save(src)
    r = CliRunner().invoke(main, ["compress", str(src), str(tmp_path / "o.aec"), "--size", "3KB"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o.aec").stat().st_size <= 3000 or "quality 0," in r.output
    r = CliRunner().invoke(main, ["compress", str(src), str(tmp_path / "p.aec"), "--size", "lots"])
    assert r.exit_code == 2


def test_module_level_compress_takes_targets(codec, small):
    # aecodec.compress is the Codec's search, not a second one: the same bytes
    data = aecodec.compress(small, size=2_000)
    assert data == codec.compress(small, size=2_000) and len(data) <= 2_000
    data = aecodec.compress(small, bpp=0.8)
    assert data == codec.compress(small, bpp=0.8)
    assert abs(8 * len(data) / (small.width * small.height) / 0.8 - 1) < 0.03
    with pytest.raises(aecodec.InputError, match="at most one"):
        aecodec.compress(small, size=2_000, bpp=0.8)
