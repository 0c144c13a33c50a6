"""Batch CLI: folders and globs in, plain progress lines, one bad file among good ones."""
import pytest
from click.testing import CliRunner

from aecodec.cli import main


@pytest.fixture()
def folder(small, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i, box in enumerate([(0, 0, 64, 48), (10, 10, 90, 70), (30, 5, 63, 38)]):
        small.crop(box).save(src / f"img{i}.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # a truncated PNG
    (src / "notes.txt").write_text("not an image; ignored by extension")
    return src


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_folder_with_one_corrupt_file(folder, tmp_path):
    out = tmp_path / "out"
    r = invoke("compress", folder, "-o", out, "-j", 1, "-q", 40)
    assert r.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["img0.aec", "img1.aec", "img2.aec"]
    lines = r.output.strip().splitlines()
    assert sum(l.startswith("ok: ") for l in lines) == 3
    assert any(l.startswith("failed: ") and "broken.png" in l for l in lines)
    assert lines[-1].startswith("4 files: 3 ok, 1 failed, 0 skipped") and "bpp" in lines[-1]
    assert "Mpx/s" in lines[-1]

    # A second run skips what exists; --force redoes it.
    r = invoke("compress", folder / "img0.png", folder / "img1.png", "-o", out, "-j", 1)
    assert r.exit_code == 0 and "0 ok, 0 failed, 2 skipped" in r.output
    r = invoke("compress", folder / "img0.png", "-o", out, "--force")
    assert r.exit_code == 0 and "1 ok" in r.output

    back = tmp_path / "back"
    r = invoke("decompress", str(out / "*.aec"), "-o", back, "-j", 2)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in back.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    assert "3 files: 3 ok, 0 failed, 0 skipped" in r.output


def test_usage(folder, tmp_path):
    assert invoke("compress", folder / "img0.png", folder / "img1.png", tmp_path / "x").exit_code == 2
    r = invoke("compress", str(tmp_path / "nothing*.png"), "-o", tmp_path / "o")
    assert r.exit_code == 1 and "no input files" in r.output
