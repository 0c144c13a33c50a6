"""`aecodec compare`: sizes, the same-size search, PSNR, the PNG and HTML, the command, and
the page in a real headless browser (skipped where no Chromium is installed)."""
import io
import sys

import numpy as np
import pytest
from PIL import Image, features

from aecodec import compare as cmp
from aecodec.container import read_header
from aecodec.errors import InputError
from conftest import ROOT, psnr

sys.path.insert(0, str(ROOT))  # bench/ is a top-level folder, not part of the installed package
from bench import check_compare_html  # noqa: E402

TARGET = 1200  # bytes for a 128x96 image: 0.78 bpp


@pytest.fixture(scope="module")
def tiny(sample):
    return sample.crop((300, 100, 428, 196))


@pytest.fixture(scope="module")
def result(tiny, codec):
    return cmp.compare(tiny, size=TARGET, codecs=cmp.default_codecs(codec), name="tiny <crop>")


# ------------------------------------------------------------------------------------- search
def test_largest_within():
    def encode(q):
        return b"x" * (10 * q + 5)
    assert cmp.largest_within(encode, 0, 100, 60)[0] == 5  # 55 bytes fit, 65 do not
    assert cmp.largest_within(encode, 0, 100, 55)[0] == 5
    assert cmp.largest_within(encode, 0, 100, 10_000) == (100, encode(100))
    q, data = cmp.largest_within(encode, 1, 100, 14)
    assert q is None and len(data) == 15  # even the lowest quality is too large


def test_every_codec_fits_the_target(result, tiny):
    names = [e.codec for e in result.entries]
    assert names == ["aecodec", "JPEG", "WebP", "AVIF"]
    expected_ok = {"AVIF": features.check("avif")}
    for e in result.entries:
        assert e.ok == expected_ok.get(e.codec, True), e.note
        if not e.ok:
            continue
        assert e.nbytes <= TARGET
        assert e.nbytes > 0.7 * TARGET, f"{e.codec} leaves much of the budget unused"
        assert e.decoded.size == tiny.size and e.decoded.mode == "RGB"
        assert 20 < e.psnr < 60
        assert e.psnr == pytest.approx(psnr(tiny, e.decoded), abs=1e-9)
    assert result.target == TARGET and result.bpp(TARGET) == pytest.approx(8 * TARGET / (128 * 96))


def test_files_are_real_and_the_largest_that_fit(result, tiny):
    """Each file is what its format says, and one quality step up no longer fits."""
    aec = result.entries[0]
    assert read_header(aec.data)[0].quality == aec.quality
    for e, c in zip(result.entries[1:], cmp.default_codecs()[1:]):
        if not e.ok:
            continue
        with Image.open(io.BytesIO(e.data)) as im:
            assert im.format == c.fmt and im.size == tiny.size
        if e.quality < c.qmax:
            assert len(c.encode(tiny, e.quality + 1)) > TARGET


def test_unreachable_target_is_a_note_not_a_crash(tiny, codec, tmp_path):
    r = cmp.compare(tiny, size=40, codecs=cmp.default_codecs(codec))
    assert not any(e.ok for e in r.entries)
    for e in r.entries:
        if e.codec != "AVIF" or features.check("avif"):
            assert e.note.startswith("cannot reach 40 bytes: its smallest file"), e.note
    png = r.render_png()
    assert png.width > 5 * 128
    assert r.render_html().count("cannot reach 40 bytes") >= 3


def test_codec_missing_from_pillow_is_a_note(tiny, monkeypatch):
    monkeypatch.setattr(cmp, "pillow_has", lambda name: name != "avif")
    avif = cmp.default_codecs()[3]
    e = avif.fit(tiny, TARGET)
    assert not e.ok and "built without avif" in e.note


def test_effort_reaches_aecodec(tiny, codec):
    aec = cmp.default_codecs(codec, effort=1)[0]
    e = aec.fit(tiny, TARGET)
    assert "effort=1" in aec.settings and e.nbytes <= TARGET
    assert e.data == codec.compress(tiny, size=TARGET, effort=1)
    with pytest.raises(InputError, match="effort"):
        cmp.compare(tiny, size=TARGET, effort=5)


def test_bpp_target_and_zoom(tiny):
    r = cmp.compare(tiny, bpp=0.5, zoom="8,16,32,24", codecs=[])
    assert r.target == 0.5 * 128 * 96 // 8 and r.zoom == (8, 16, 32, 24) and r.zoom_factor == 4
    with pytest.raises(InputError, match="not inside"):
        cmp.compare(tiny, bpp=0.5, zoom=(100, 80, 32, 24), codecs=[])
    with pytest.raises(InputError, match="exactly one"):
        cmp.compare(tiny, size=100, bpp=0.5, codecs=[])


def test_default_zoom_finds_the_detail():
    rng = np.random.default_rng(0)
    img = np.full((240, 320, 3), 128, np.uint8)
    img[150:190, 40:90] = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)  # the only texture
    x, y, w, h = cmp.most_detailed_region(img, 48, 32)
    assert (w, h) == (48, 32)
    assert 40 <= x and x + w <= 90 and 150 <= y and y + h <= 190


# ------------------------------------------------------------------------------------- outputs
def test_png_shows_every_codec(result):
    png = result.render_png()
    assert png.mode == "RGB" and png.width >= 5 * 128 and png.height > 2 * 96
    px = np.asarray(png)
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 1000  # pictures, not only text


def test_html_is_self_contained(result):
    page = result.render_html()
    shown = 2 * (1 + sum(e.ok for e in result.entries))  # the original and each coded picture,
    # whole and zoomed; a codec Pillow lacks (AVIF before Pillow 11.3) has a row and no picture
    assert page.count("<img ") == shown and page.count('src="data:image/png;base64,') == shown
    assert "tiny &lt;crop&gt;" in page and "<crop>" not in page  # the name is escaped
    for e in result.entries:
        if e.ok:
            assert f"<td>{e.nbytes:,}</td>" in page and f"<td>{e.psnr:.2f}</td>" in page
    assert "http://" not in page and "https://" not in page


# ------------------------------------------------------------------------------------- command
@pytest.fixture()
def png(tiny, tmp_path):
    path = tmp_path / "in.png"
    tiny.save(path)
    return path


def test_cli_writes_png_and_html(run, png, tmp_path):
    out, page = tmp_path / "cmp.png", tmp_path / "cmp.html"
    r = run("compare", png, "--size", "1.2KB", "-o", out, "--html", page, "--zoom", "0,0,32,24")
    assert r.exit_code == 0, r.output
    for name in ("aecodec", "JPEG", "WebP"):
        assert any(line.startswith(name) and "PSNR" in line for line in r.output.splitlines())
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width >= 5 * 128
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob("*.part"))
    r = run("compare", png, "--bpp", "0.5", "-o", out)  # exists: kept without --force
    assert r.exit_code == 1 and "--force" in r.output


@pytest.mark.parametrize("args", [(), ("--size", "1KB", "--bpp", "0.5"), ("--size", "20XB"),
                                  ("--bpp", "0"), ("--size", "1KB", "--zoom", "1,2,3"),
                                  ("--size", "1KB", "--effort", "5")])
def test_cli_usage_errors_exit_2(run, png, args):
    assert run("compare", png, *args).exit_code == 2


def test_cli_errors_are_one_line(run, png, tmp_path):
    for args, message in [((tmp_path / "nope.png", "--size", "1KB"), "no such file"),
                          ((png, "--size", "1KB", "--zoom", "100,80,32,24"), "not inside"),
                          ((png, "--size", "1KB", "-o", png, "--force"), "input")]:
        r = run("compare", *args)
        assert r.exit_code == 1, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("aecodec: error:") and message in lines[0]


# ------------------------------------------------------------------------------------- browser
needs_chromium = pytest.mark.skipif(check_compare_html.find_chromium() is None,
                                    reason="no Chromium here (apt-get install chromium)")


@needs_chromium
def test_html_renders_in_headless_chromium(result, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(result.render_html(), encoding="utf-8")
    r = check_compare_html.check(page, screenshot=tmp_path / "shot.png")
    assert r["images_loaded"] == r["images_total"] == 10, r
    assert r["ok"], r


@needs_chromium
def test_browser_check_catches_a_broken_image(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><script>" + cmp._SCRIPT + "</script></head><body>"
                    '<p>text only</p><img src="data:image/png;base64,AAAA"></body></html>')
    r = check_compare_html.check(page)
    assert r["images_total"] == 1 and r["images_loaded"] == 0 and not r["ok"]
