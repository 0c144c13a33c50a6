"""Plot training progress per CPU-minute from run logs (needs matplotlib, the `bench` extra).

    python -m aecodec.train.curve runs/hp1/log.jsonl --out weights/training_curve.png
    python -m aecodec.train.curve runs/hp1/log.jsonl runs/hp2/log.jsonl --chain --out ...

With --chain the logs are successive runs of one model (each resumed from the last), drawn on
one axis of cumulative training minutes.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_log(path: Path) -> tuple[list[dict], list[dict]]:
    train: list[dict] = []
    evals: list[dict] = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        (evals if "eval" in rec else train).append(rec)
    return train, evals


def main(argv=None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("logs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--chain", action="store_true",
                   help="successive runs of one model: one axis of cumulative minutes")
    args = p.parse_args(argv)
    fig, (ax_psnr, ax_eval) = plt.subplots(1, 2, figsize=(14, 4.5))
    ax_bpp = ax_psnr.twinx()
    ax_bpp.set_ylabel("train bpp (dotted)")
    offset = 0.0
    for k, log in enumerate(args.logs):
        train, evals = read_log(log)
        label = log.parent.name
        minutes = [offset + r["minutes"] for r in train]
        ax_psnr.plot(minutes, [r["psnr"] for r in train], f"C{k}", label=f"{label} PSNR")
        ax_bpp.plot(minutes, [r["bpp"] for r in train], f"C{k}:", alpha=0.6)
        levels = sorted({e["level"] for r in evals for e in r["eval"]})
        for i, level in enumerate(levels):
            pts = [(offset + r["minutes"], e["psnr"], e["bpp"]) for r in evals for e in r["eval"]
                   if e["level"] == level]
            ax_eval.plot([m for m, _, _ in pts], [v for _, v, _ in pts], "os^Dvp<>"[k % 8] + "-",
                         color=f"C{i}", label=f"{label} level {level} (last {pts[-1][2]:.2f} bpp)")
        if args.chain and train:
            offset += max(r["minutes"] for r in train + evals)
    ax_psnr.set_xlabel("training minutes (2 CPU cores)")
    ax_psnr.set_ylabel("train PSNR (dB), mixed levels")
    ax_psnr.grid(alpha=0.3)
    ax_eval.set_xlabel("training minutes (2 CPU cores)")
    ax_eval.set_ylabel("Kodak PSNR (dB), 4 images, estimated rate")
    ax_eval.grid(alpha=0.3)
    # Outside the axes: with many chained runs an inside legend hides the latest points.
    ax_eval.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                   ncol=1 + len(args.logs) // 4)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
