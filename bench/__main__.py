"""python -m bench {run,memory,seams,ratecontrol,blocks,speed,effort,postfilter,report} — see bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="rate-distortion and speed sweep -> results.json/.md, rd*.png")
    r.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    r.add_argument("--out", type=Path, default=Path("bench/results/kodak"))
    r.add_argument("--quick", action="store_true", help="2 images, 3 qualities per codec")
    r.add_argument("--codecs", nargs="+", metavar="NAME",
                   help="subset: jpeg420 jpeg444 webp jpeg2000 avif444 avif420 aecodec, "
                        "and aecodec-<model id> for a shipped model other than the default")
    r.add_argument("--no-compressai", action="store_true", help="skip the CompressAI speed runs")
    r.add_argument("--update", action="store_true",
                   help="merge into OUT/results.json: the codecs run now (and CompressAI's speed, "
                        "unless --no-compressai) replace their rows, all others are kept")

    m = sub.add_parser("memory", help="peak RSS and time of compress/decompress at several sizes, fresh processes")
    m.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    m.add_argument("--out", type=Path, default=Path("bench/results/memory"))
    m.add_argument("--codec", default="aecodec", help="any run codec name, for comparison")
    m.add_argument("--quality", type=float, default=55)
    m.add_argument("--sizes", nargs="+", choices=["kodak", "4k", "4mpx", "16mpx", "100mpx"],
                   default=["kodak", "4mpx", "16mpx", "100mpx"])

    sm = sub.add_parser("seams", help="the same large image tiled and untiled: PSNR and size")
    sm.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    sm.add_argument("--out", type=Path, default=Path("bench/results/seams"))
    sm.add_argument("--size", default="4896x3264", help="WIDTHxHEIGHT of the upscaled image")

    rc = sub.add_parser("ratecontrol", help="compress(bpp=target) on every image: bpp error")
    rc.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    rc.add_argument("--out", type=Path, default=Path("bench/results/ratecontrol"))
    rc.add_argument("--effort", type=int, default=0,
                    help="encoder effort of every encode (0: plain)")

    bl = sub.add_parser("blocks", help="decode/encode time that latent blocks would add")
    bl.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    bl.add_argument("--out", type=Path, default=Path("bench/results/blocks"))

    sp = sub.add_parser("speed", help="aecodec vs CompressAI, timed interleaved image by image")
    sp.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    sp.add_argument("--out", type=Path, default=Path("bench/results/speed"))
    sp.add_argument("--quality", type=float, default=50)
    sp.add_argument("--reps", type=int, default=3)

    ef = sub.add_parser("effort", help="every encoder effort: bits saved and encode time, a few images")
    ef.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    ef.add_argument("--out", type=Path, default=Path("bench/results/effort"))

    pf = sub.add_parser("postfilter", help="post-filter shapes on effort-0 files: BD-rate each buys")
    pf.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    pf.add_argument("--out", type=Path, default=Path("bench/results/postfilter"))
    pf.add_argument("--images", type=int, default=None, help="the first N images only")

    rep = sub.add_parser("report", help="rebuild results.md and plots from a results.json")
    rep.add_argument("results", type=Path)

    for p in (r, m, sm, rc, bl, sp, ef, pf):
        # Default 1: every codec single-threaded, so the speed table compares codecs, not cores.
        p.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)

    if a.cmd in ("run", "memory", "seams", "ratecontrol", "blocks", "speed", "effort", "postfilter"):
        # Before torch is imported, so its OpenMP pool starts at this size.
        os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))

    from . import report

    if a.cmd == "run":
        from . import runner

        res = runner.run(a.data, a.out, quick=a.quick, threads=a.threads, only=a.codecs,
                         compressai=not a.no_compressai, update=a.update, log=_log)
        report.write_all(res, a.out)
        _log(f"wrote {a.out}/results.json, results.md, rd.png, rd_msssim.png")
    elif a.cmd == "memory":
        from . import memory

        sizes = [s for s in memory.SIZES if s[0] in a.sizes]
        res = memory.run(a.data, a.out, codec=a.codec, quality=a.quality, threads=a.threads,
                         sizes=sizes, log=_log)
        _log(f"wrote {a.out}/memory.json, memory.md" + (f" (skipped: {res['skipped']})"
                                                        if res["skipped"] else ""))
    elif a.cmd == "seams":
        from . import seams

        w, h = (int(v) for v in a.size.lower().split("x"))
        seams.run(a.data, a.out, w, h, log=_log)
        _log(f"wrote {a.out}/seams.json, seams.md")
    elif a.cmd == "ratecontrol":
        from aecodec import InputError
        from aecodec.efforts import check_effort

        from . import ratecontrol

        try:  # checked here, after OMP_NUM_THREADS: importing aecodec imports torch
            check_effort(a.effort)
        except InputError as exc:
            ap.error(str(exc))
        res = ratecontrol.run(a.data, a.out, effort=a.effort, log=_log)
        _log(f"wrote {a.out}/ratecontrol.json, ratecontrol.md: largest in-range error "
             f"{100 * res['max_abs_error']:.2f} %")
    elif a.cmd == "blocks":
        from . import blocks

        res = blocks.run(a.data, a.out, log=_log)
        _log(f"wrote {a.out}/blocks.json, blocks.md")
    elif a.cmd == "speed":
        from . import speed

        res = speed.run(a.data, a.out, quality=a.quality, reps=a.reps, log=_log)
        _log(f"wrote {a.out}/speed.json, speed.md: aecodec / bmshj2018-hyperprior decode "
             f"{res['ratio']['bmshj2018-hyperprior']['decode']:.2f}x, encode "
             f"{res['ratio']['bmshj2018-hyperprior']['encode']:.2f}x")
    elif a.cmd == "effort":
        from . import effort

        res = effort.run(a.data, a.out, log=_log)
        _log(f"wrote {a.out}/effort.json, effort.md: BD-rate vs effort 0 " + ", ".join(
            f"effort {e} {s['bd_rate_vs_effort0']:+.2f} % at {s['encode_time_ratio']:.0f}x"
            for e, s in res["summary"].items() if e))
    elif a.cmd == "postfilter":
        from . import postfilter

        res = postfilter.run(a.data, a.out, images=a.images, log=_log)
        _log(f"wrote {a.out}/postfilter.json, postfilter.md: BD-rate vs plain " + ", ".join(
            f"{arm} {s['bd_rate_vs_plain']:+.2f} %" for arm, s in res["summary"].items()
            if arm != "plain"))
    else:
        res = json.loads(a.results.read_text())
        report.write_all(res, a.results.parent)
        _log(f"wrote {a.results.parent}/results.md, rd.png, rd_msssim.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
