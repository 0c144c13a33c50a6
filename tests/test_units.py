"""Sizes and rectangles as people type them (shared by compress --size, compare, --crop)."""
import pytest

from aecodec.errors import InputError
from aecodec.units import parse_box, parse_size


@pytest.mark.parametrize("text, size", [
    ("20000", 20000), ("20KB", 20000), ("20kB", 20000), ("20kb", 20000), ("20 KB", 20000),
    ("1.5MB", 1_500_000), ("64KiB", 65536), ("2MiB", 2 * 1024**2), ("512B", 512), ("0.5KB", 500),
])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "KB", "20GB", "-5KB", "0", "0.0001KB", "1e3", "20 K B"])
def test_parse_size_rejects(text):
    with pytest.raises(InputError):
        parse_size(text)


def test_parse_box():
    assert parse_box("10,20,30,40") == (10, 20, 30, 40)
    assert parse_box(" 1, 2, 3, 4") == (1, 2, 3, 4)
    for bad in ("1,2,3", "1,2,3,x", "1,2,0,4", "-1,2,3,4", "1,2,3,4,5"):
        with pytest.raises(InputError, match="crop"):
            parse_box(bad, "crop")
