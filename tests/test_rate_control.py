"""Rate control: --size gives the largest file that fits, --bpp the closest to the target."""
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


def test_unreachable_targets_clamp(codec, small):
    assert codec.compress(small, size=10) == codec.compress(small, quality=0)
    assert codec.compress(small, bpp=100) == codec.compress(small, quality=100)


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
