"""results.json -> results.md, rd.png, rd_msssim.png."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np

from . import metrics

ANCHOR = "jpeg420"
PUBLISHED_DIR = Path(__file__).parent / "published"
KODAK = [f"kodim{i:02d}.png" for i in range(1, 25)]


def load_published() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(PUBLISHED_DIR.glob("*.json"))]


def _nanmean(xs):
    xs = [np.nan if x is None else x for x in xs]
    return float(np.nanmean(xs)) if any(x == x for x in xs) else float("nan")


def curve(entry: dict) -> dict:
    """Mean over images per quality: the usual way RD curves on Kodak are published."""
    rows = []
    for p in entry["points"]:
        ims = list(p["images"].values())
        rows.append({"quality": p["quality"],
                     "bpp": statistics.mean(i["bpp"] for i in ims),
                     "psnr": statistics.mean(i["psnr"] for i in ims),
                     "ms_ssim": _nanmean([i["ms_ssim"] for i in ims])})
    return {"quality": [r["quality"] for r in rows], "bpp": [r["bpp"] for r in rows],
            "psnr": [r["psnr"] for r in rows], "ms_ssim": [r["ms_ssim"] for r in rows]}


def speed(entry: dict) -> dict:
    """Medians over every (image, quality) sample; MP/s per sample so image sizes may differ."""
    enc, dec, enc_r, dec_r = [], [], [], []
    for p in entry["points"]:
        for i in p["images"].values():
            mpx = 8 * i["bytes"] / i["bpp"] / 1e6  # pixels recovered from bytes and bpp
            enc.append(i["encode_s"]), dec.append(i["decode_s"])
            enc_r.append(mpx / i["encode_s"]), dec_r.append(mpx / i["decode_s"])
    med = statistics.median
    return {"encode_s": med(enc), "decode_s": med(dec),
            "encode_mpx_s": med(enc_r), "decode_mpx_s": med(dec_r)}


def _f(x, fmt):
    return "n/a" if x is None or x != x else format(x, fmt)


def measured(res: dict) -> list[tuple[str, dict | None]]:
    """(label, measured) per codec and CompressAI row; measured is None in files from before
    `run --update` recorded it."""
    rows = [(v["label"], v.get("measured")) for v in res["codecs"].values()]
    if res.get("compressai_speed", {}).get("models"):
        rows.append(("CompressAI speed rows", res["compressai_speed"].get("measured")))
    return rows


def is_merged(res: dict) -> bool:
    """True when the rows come from more than one run (`run --update`)."""
    return len({json.dumps(m, sort_keys=True) for _, m in measured(res)}) > 1


def markdown(res: dict) -> str:
    m = res["meta"]
    merged = is_merged(res)
    L = [f"# Benchmark: {Path(res['data']).name} ({len(res['images'])} images)"
         + (" — quick mode" if res["quick"] else ""), "",
         ("Latest run's machine" if merged else "Machine")
         + f": {m['cpu']} ({m['cpu_count']} cores), {m['platform']}, Python {m['python']}, "
         f"threads={m['threads']}. Date: {m['date']}.", "",
         "Libraries: " + ", ".join(f"{k} {v}" for k, v in m["pillow_libraries"].items() if v)
         + "; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v) + ".", "",
         "bpp counts every byte of the stored file. PSNR-RGB is on the 8-bit output, averaged "
         "per image; MS-SSIM is pytorch-msssim (data_range=255), averaged per image.", ""]
    if merged:
        L += ["## Measured", "", "Rows merged from several runs (`run --update`); each row's run:",
              "", "| rows | date | threads | CPU |", "|---|---|---:|---|"]
        L += [f"| {label} | {mm['date']} | {mm['threads']} | {mm['cpu']} ({mm['cpu_count']} cores) |"
              if mm else f"| {label} | (not recorded) | | |" for label, mm in measured(res)] + [""]
    if res["skipped"]:
        L += ["## Skipped", ""] + [f"- **{k}**: {v}" for k, v in res["skipped"].items()] + [""]
    curves = {k: curve(v) for k, v in res["codecs"].items()}
    for k, v in res["codecs"].items():
        c = curves[k]
        L += [f"## {v['label']}", "", f"Settings: {v['settings']}.", "",
              "| quality | bpp | PSNR (dB) | MS-SSIM |", "|---:|---:|---:|---:|"]
        L += [f"| {q} | {b:.4f} | {p:.2f} | {_f(s, '.4f')} |"
              for q, b, p, s in zip(c["quality"], c["bpp"], c["psnr"], c["ms_ssim"])] + [""]
    L += _bd_section(res, curves) + _speed_section(res)
    return "\n".join(L) + "\n"


def _bd_section(res, curves):
    L = ["## BD-rate vs JPEG 4:2:0 (PSNR)", "",
         "Bjontegaard delta rate from the `bjontegaard` package, PCHIP on log-rate, integrated over "
         "the PSNR range both curves cover (stated per row; only points that raise PSNR are used). "
         "Negative = fewer bits than JPEG 4:2:0 for the same PSNR.", ""]
    if ANCHOR not in curves:
        return L + ["JPEG 4:2:0 was not run, so no BD-rate.", ""]
    a = curves[ANCHOR]
    rows = [(res["codecs"][k]["label"], c) for k, c in curves.items() if k != ANCHOR]
    # Published curves are on all 24 Kodak images; comparing them to a subset would mislead.
    full_kodak = sorted(res["images"]) == KODAK
    if full_kodak:
        rows += [(p["label"], p) for p in load_published()]
    L += ["| codec | BD-rate | PSNR range (dB) |", "|---|---:|---|"]
    for label, c in rows:
        v, lo, hi = metrics.bd_rate((a["bpp"], a["psnr"]), (c["bpp"], c["psnr"]))
        rng = f"{lo:.2f} – {hi:.2f}" if lo < hi else "no overlap"
        L.append(f"| {label} | {_f(v, '+.1f')}{'' if v != v else ' %'} | {rng} |")
    if not full_kodak:
        L.append("\nPublished curves are left out of this table: they are on all 24 Kodak images.")
    return L + [""]


def _speed_section(res):
    threads = ("threads per row as in the Measured table" if is_merged(res)
               else f"{res['meta']['threads']} thread(s)")
    L = ["## Speed", "", f"Median seconds per image over all images and qualities, wall clock, "
         f"{threads}; MP/s = megapixels per second (median per sample). "
         "Decode includes conversion to an RGB array.", "",
         "| codec | encode s | decode s | encode MP/s | decode MP/s |", "|---|---:|---:|---:|---:|"]
    rows = [(v["label"], speed(v)) for v in res["codecs"].values()]
    cai = res.get("compressai_speed", {})
    rows += [(f"CompressAI {k} (random weights)", v) for k, v in cai.get("models", {}).items()]
    for label, s in rows:
        L.append(f"| {label} | {s['encode_s']:.4f} | {s['decode_s']:.4f} | "
                 f"{s['encode_mpx_s']:.2f} | {s['decode_mpx_s']:.2f} |")
    if cai.get("note"):
        L += ["", f"CompressAI: {cai['note']}."]
    return L + [""]


def plot(res: dict, path: Path, metric: str):
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    def y(vals):
        # MS-SSIM in dB spreads the crowded 0.95-1.0 region, as CompressAI's plots do.
        if metric == "psnr":
            return vals
        return [-10 * math.log10(1 - v) if v == v and v < 1 else np.nan for v in vals]

    fig, ax = plt.subplots(figsize=(9, 6.5), dpi=110)
    pts = []
    for k, v in res["codecs"].items():
        c = curve(v)
        lw = 2.6 if k.startswith("aecodec") else 1.6  # ours stand out
        ax.plot(c["bpp"], y(c[metric]), marker="o", ms=4, lw=lw, label=v["label"])
        pts += zip(c["bpp"], y(c[metric]))
    xmax = min(max([1.0] + [x for x, _ in pts]), 3.0)  # beyond 3 bpp nobody picks a lossy codec
    for p in load_published():
        ax.plot(p["bpp"], y(p[metric]), ls="--", lw=1.3, marker=".", label=p["label"])
        pts += zip(p["bpp"], y(p[metric]))
    ax.set_xlim(0, xmax)
    # y range from the points in view only, so off-screen published points don't squash it.
    ys = [b for a, b in pts if a <= xmax and b == b]
    pad = 0.04 * (max(ys) - min(ys))
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.set_xlabel("bits per pixel (whole file)")
    ax.set_ylabel("PSNR-RGB (dB)" if metric == "psnr" else "MS-SSIM (dB) = -10 log10(1 - MS-SSIM)")
    n = len(res["images"])
    ax.set_title(f"{Path(res['data']).name}, {n} image{'s' if n > 1 else ''}"
                 + (" (quick)" if res["quick"] else "") + "; dashed = published, Kodak 24")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_all(res: dict, out: Path):
    out = Path(out)
    (out / "results.md").write_text(markdown(res))
    plot(res, out / "rd.png", "psnr")
    plot(res, out / "rd_msssim.png", "ms_ssim")
