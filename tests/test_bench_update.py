"""bench run --update: the merge of a new run into an existing results.json, on small dicts."""
import copy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/ is a top-level folder, not part of the installed package

from bench import runner  # noqa: E402

IMAGES = ["a.png", "b.png"]


def entry(label, date, threads=1, bpp=(0.25, 0.5, 1.0, 2.0), psnr=(28.0, 31.0, 34.0, 37.0)):
    """A codec entry as run() writes it: 4 qualities on IMAGES, same numbers on each image."""
    points = [{"quality": q, "images": {im: {"bytes": int(b * 64 * 64 / 8), "bpp": b, "psnr": p,
                                             "ms_ssim": 0.9, "encode_s": 0.01, "decode_s": 0.02}
                                        for im in IMAGES}}
              for q, (b, p) in enumerate(zip(bpp, psnr))]
    return {"label": label, "settings": "s", "points": points,
            "measured": {"date": date, "cpu": "cpu", "cpu_count": 2, "platform": "p",
                         "threads": threads, "torch_threads": threads}}


def results(date, codecs, skipped=None, compressai=None, images=IMAGES, quick=False):
    meta = {"platform": "p", "cpu": "cpu", "cpu_count": 2, "python": "3", "threads": 1,
            "torch_threads": 1, "pillow_libraries": {}, "packages": {}, "date": date}
    r = {"data": "kodak", "images": list(images), "quick": quick, "meta": meta,
         "codecs": codecs, "skipped": skipped or {}}
    if compressai is not None:
        r["compressai_speed"] = compressai
    return r


def old_results():
    return results("day1", {"jpeg420": entry("JPEG 4:2:0", "day1"),
                            "webp": entry("WebP", "day1"),
                            "aecodec": entry("aecodec", "day1", bpp=(0.3, 0.6, 1.2, 2.4))},
                   skipped={"avif444": "no avif", "jpeg2000": "no openjpeg"},
                   compressai={"note": "old", "models": {}})


def test_update_replaces_only_the_codecs_run_now():
    old = old_results()
    new = results("day2", {"aecodec": entry("aecodec", "day2", bpp=(0.2, 0.4, 0.8, 1.6)),
                           "jpeg2000": entry("JPEG 2000", "day2")},
                  skipped={"avif420": "no avif"})
    before = copy.deepcopy((old, new))
    m = runner.merge(old, new, ran=["aecodec", "jpeg2000", "avif420"])
    assert (old, new) == before  # pure
    # Re-run rows come from the new run, the others keep their old measurement.
    assert {k: v["measured"]["date"] for k, v in m["codecs"].items()} == {
        "jpeg420": "day1", "webp": "day1", "jpeg2000": "day2", "aecodec": "day2"}
    assert m["codecs"]["aecodec"]["points"][0]["images"]["a.png"]["bpp"] == 0.2
    assert list(m["codecs"]) == ["jpeg420", "webp", "jpeg2000", "aecodec"]  # run order kept
    # jpeg2000 ran now, so its old skip note goes; avif444 was not run, so its note stays.
    assert m["skipped"] == {"avif444": "no avif", "avif420": "no avif"}
    assert m["compressai_speed"] == {"note": "old", "models": {}}  # not re-timed: kept
    assert m["meta"]["date"] == "day2" and m["images"] == IMAGES


def test_update_rerun_that_skips_drops_the_old_row_and_compressai_rerun_replaces():
    new = results("day2", {}, skipped={"aecodec": "weights missing"},
                  compressai={"note": "new", "models": {}})
    m = runner.merge(old_results(), new, ran=["aecodec"])
    assert "aecodec" not in m["codecs"] and m["skipped"]["aecodec"] == "weights missing"
    assert set(m["codecs"]) == {"jpeg420", "webp"}
    assert m["compressai_speed"]["note"] == "new"


def test_update_without_compressai_installed_keeps_its_old_speed_rows():
    new = results("day2", {"aecodec": entry("aecodec", "day2")},
                  compressai={"note": "compressai not available; CompressAI speed skipped"})
    m = runner.merge(old_results(), new, ran=["aecodec"])
    assert m["compressai_speed"] == {"note": "old", "models": {}}
    # with nothing timed before, the note is what there is
    fresh = results("day1", {}, compressai=None)
    assert runner.merge(fresh, new, ran=["aecodec"])[
        "compressai_speed"]["note"].startswith("compressai not available")


@pytest.mark.parametrize("kw", [{"images": ["a.png"]}, {"quick": True}])
def test_update_refuses_other_images_or_mode(kw):
    with pytest.raises(ValueError, match="cannot --update"):
        runner.merge(old_results(), results("day2", {}, **kw), ran=[])


def test_report_on_a_merged_file():
    pytest.importorskip("bjontegaard")
    from bench import report

    new = results("day2", {"aecodec": entry("aecodec", "day2", threads=2)})
    m = runner.merge(old_results(), new, ran=["aecodec"])
    del m["codecs"]["webp"]["measured"]  # a row from a file written before `measured` existed
    md = report.markdown(m)
    assert report.is_merged(m) and "## Measured" in md
    assert "| aecodec | day2 | 2 |" in md and "| JPEG 4:2:0 | day1 | 1 |" in md
    assert "| WebP | (not recorded) |" in md
    assert "| WebP | +0.0 % |" in md  # same curve as the anchor
    assert md.count("| aecodec |") == 3  # measured, BD-rate and speed rows
    assert not report.is_merged(old_results())


@pytest.mark.parametrize("name, label, kept_name, kept_label", [
    ("aecodec", "aecodec", "aecodec-m1", "aecodec m1"),
    ("aecodec-effort1", "aecodec effort 1", "aecodec-m1-effort1", "aecodec m1 effort 1"),
])
def test_update_with_a_new_default_model_keeps_the_old_row_under_its_id(name, label, kept_name,
                                                                         kept_label):
    old = old_results()
    old["codecs"][name] = {**entry(label, "day1", bpp=(0.3, 0.6, 1.2, 2.4)), "model": "m1"}
    new = results("day2", {name: {**entry(label, "day2"), "model": "m2"}})
    m = runner.merge(old, new, ran=[name])
    assert m["codecs"][name]["model"] == "m2"
    kept = m["codecs"][kept_name]
    assert kept["label"] == kept_label and kept["measured"]["date"] == "day1"
    assert kept["points"] == old["codecs"][name]["points"]
    if name == "aecodec":
        assert list(m["codecs"]) == ["jpeg420", "webp", "aecodec", "aecodec-m1"]


@pytest.mark.parametrize("old_model, new_model, also_ran", [
    ("m1", "m1", False),   # same model re-measured: replaced, as any re-run row
    (None, "m2", False),   # a row from before rows named their model: nothing to name it by
    ("m1", "m2", True),    # this run measured m1 by name as well: the new row wins
])
def test_update_keeps_no_old_default_row_when_nothing_would_be_lost(old_model, new_model, also_ran):
    old = old_results()
    if old_model:
        old["codecs"]["aecodec"]["model"] = old_model
    codecs = {"aecodec": {**entry("aecodec", "day2"), "model": new_model}}
    if also_ran:
        codecs["aecodec-m1"] = {**entry("aecodec m1", "day2"), "model": "m1"}
    m = runner.merge(old, results("day2", codecs), ran=list(codecs))
    assert all(v["measured"]["date"] == "day2" for k, v in m["codecs"].items() if "aecodec" in k)
    assert set(m["codecs"]) == {"jpeg420", "webp", *codecs}
