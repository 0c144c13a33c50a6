"""The sweep: every codec, every quality, every image, in one process, then results.json."""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image, features

from . import codecs as C
from . import metrics

IMAGE_SUFFIXES = {".png", ".ppm", ".bmp", ".tif", ".tiff"}  # lossless sources only


def list_images(folder: Path, limit: int | None = None) -> list[Path]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"no lossless images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files[:limit] if limit else files


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(threads: int) -> dict:
    import os

    import torch

    libs = {k: features.version(k) for k in ("jpg", "libjpeg_turbo", "webp", "jpg_2000", "avif")}
    pkgs = {d: _version(d) for d in ("pillow", "numpy", "torch", "pytorch-msssim",
                                     "bjontegaard", "aecodec", "compressai", "matplotlib")}
    return {
        "platform": platform.platform(), "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0], "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "pillow_libraries": libs, "packages": pkgs,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def measured(meta: dict) -> dict:
    """When (the run's start), where and how a codec (or the CompressAI speed rows) was
    measured: kept with each entry, so a merged results.json (`run --update`) still says which run each row comes from."""
    return {k: meta[k] for k in ("date", "cpu", "cpu_count", "platform", "threads",
                                 "torch_threads")}


def check_mergeable(old: dict, new: dict):
    """Rows are comparable only on the same images in the same mode; refuse anything else."""
    if old.get("quick") != new.get("quick"):
        raise ValueError(f"cannot --update: the existing results are quick={old.get('quick')}, "
                         f"this run is quick={new.get('quick')}")
    if list(old.get("images", [])) != list(new.get("images", [])):
        raise ValueError("cannot --update: the existing results are on other images "
                         f"({len(old.get('images', []))} vs {len(new.get('images', []))}); "
                         "run without --update to start over")


def merge(old: dict, new: dict, ran: list[str]) -> dict:
    """results.json of `run --update`: the codecs in `ran` (attempted by this run, whether they
    succeeded or were skipped) take their entry or skip note from `new` and lose any from `old`;
    every other codec keeps its entry or note from `old`, and a default `aecodec` row that a new
    default model replaces stays as its model's own row (see `_superseded_defaults`).
    CompressAI's speed rows come from `new` when this run timed them, else from `old`. Top-level
    data/images/meta are this run's; each entry's own `measured` says when and how it was
    measured. Pure: neither input is modified.
    """
    check_mergeable(old, new)
    ran = set(ran)
    codecs = {k: v for k, v in old.get("codecs", {}).items() if k not in ran}
    codecs.update(_superseded_defaults(old.get("codecs", {}), new["codecs"]))
    codecs.update(new["codecs"])
    # JPEG 4:2:0 first, as in a run; other aecodec models after the default one
    order = {c.name: i for i, c in enumerate(C.all_codecs(names=codecs))}
    codecs = dict(sorted(codecs.items(), key=lambda kv: order.get(kv[0], len(order))))
    skipped = {k: v for k, v in old.get("skipped", {}).items() if k not in ran}
    skipped.update(new.get("skipped", {}))
    out = {**new, "codecs": codecs, "skipped": skipped}
    # Timed rows carry "models"; a run without CompressAI installed leaves only a note, which
    # must not erase the rows timed before (a run with --no-compressai leaves nothing)
    cai = new.get("compressai_speed")
    if cai is None or "models" not in cai:
        cai = old.get("compressai_speed", cai)
    out.pop("compressai_speed", None)
    if cai is not None:
        out["compressai_speed"] = cai
    return out


def _superseded_defaults(old: dict, new: dict) -> dict:
    """The `aecodec` and `aecodec-effort<N>` rows always measure the package's default model,
    so when a run measures a new default, an old row is what the old model would measure by
    name: keep it as `aecodec-<its id>` (`aecodec-<its id>-effort<N>`), unless this run
    measured that one too, instead of losing its curve."""
    kept = {}
    for name, after in new.items():
        effort = C.default_model_effort(name)
        model = old.get(name, {}).get("model")
        if effort is None or not model or model == after.get("model", model):
            continue
        kept_name, label = C.aecodec_row(model, effort)
        if kept_name not in new:
            kept[kept_name] = {**old[name], "label": label}
    return kept


def sweep(codec: C.Codec, images: dict, qualities: list, log=print) -> list[dict]:
    """Per quality, per image: bytes, bpp, PSNR, MS-SSIM, encode/decode seconds."""
    first = next(iter(images.values()))
    # Untimed warm-up: the first call pays one-off costs (lazy imports, weight caching, allocator).
    codec.decode(codec.encode(first[0], qualities[len(qualities) // 2]))
    points = []
    for q in qualities:
        per_image = {}
        for name, (img, ref) in images.items():
            t0 = time.perf_counter()
            data = codec.encode(img, q)
            t1 = time.perf_counter()
            out = codec.decode(data)
            t2 = time.perf_counter()
            ms = metrics.ms_ssim(ref, out)
            per_image[name] = {
                "bytes": len(data), "bpp": metrics.bpp(len(data), ref.shape),
                "psnr": metrics.psnr(ref, out),
                "ms_ssim": None if ms != ms else ms,  # NaN (image too small) is not JSON
                "encode_s": t1 - t0, "decode_s": t2 - t1,
            }
        pts = per_image.values()
        log(f"  {codec.name:10s} q={q:<4} bpp={statistics.mean(p['bpp'] for p in pts):.3f} "
            f"psnr={statistics.mean(p['psnr'] for p in pts):.2f}")
        points.append({"quality": q, "images": per_image})
    return points


def run(data: Path, out: Path, quick: bool = False, threads: int = 1,
        only: list[str] | None = None, compressai: bool = True, update: bool = False,
        log=print) -> dict:
    """Sweep the codecs (all, or those named in `only`) and write out/results.json.

    update: merge into an existing out/results.json instead of replacing it (see `merge`).
    """
    import torch

    known = [c.name for c in C.all_codecs(threads, names=only or ())]
    unknown = sorted(set(only or []) - set(known))
    if unknown:
        raise SystemExit(f"unknown codec(s) {', '.join(unknown)}; known: {' '.join(known)}")
    torch.set_num_threads(threads)
    files = list_images(data, 2 if quick else None)
    images = {}
    for p in files:
        with Image.open(p) as im:
            img = im.convert("RGB")
        images[p.name] = (img, np.asarray(img))
    results = {"data": str(data), "images": list(images), "quick": quick,
               "meta": machine_info(threads), "codecs": {}, "skipped": {}}
    old = None
    if update and (out / "results.json").exists():
        old = json.loads((out / "results.json").read_text())
        try:
            check_mergeable(old, results)  # before the sweep, not after half an hour of it
        except ValueError as e:
            raise SystemExit(str(e)) from None
        log(f"--update: merging into {out / 'results.json'}")
    elif update:
        log(f"--update: no {out / 'results.json'} yet, writing a new one")
    ran = []
    for codec in C.all_codecs(threads, names=only or ()):
        if only and codec.name not in only:
            continue
        ran.append(codec.name)
        why = codec.unavailable()
        if why:
            log(f"skip {codec.name}: {why}")
            results["skipped"][codec.name] = why
            continue
        log(f"{codec.label}: {codec.settings}")
        qs = codec.quick_qualities if quick else codec.qualities
        try:
            points = sweep(codec, images, qs, log)
        except Exception as e:  # one broken codec build must not lose the others' results
            results["skipped"][codec.name] = f"failed: {type(e).__name__}: {e}"
            log(f"skip {codec.name}: {results['skipped'][codec.name]}")
            continue
        results["codecs"][codec.name] = {"label": codec.label, "settings": codec.settings,
                                         "measured": measured(results["meta"]), "points": points}
        if getattr(codec, "model_id", None):  # which weights made an aecodec row (see merge)
            results["codecs"][codec.name]["model"] = codec.model_id
    if compressai:
        from . import speed_compressai

        results["compressai_speed"] = speed_compressai.run(images, log=log)
        results["compressai_speed"]["measured"] = measured(results["meta"])
    if old is not None:
        results = merge(old, results, ran)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return results
