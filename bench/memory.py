"""Peak memory (RSS) of compress and decompress, each in a fresh child process.

A fresh process per measurement because ru_maxrss is a high-water mark: in one process the
first large image would set the peak for everything after it. The child reports its own
getrusage(RUSAGE_SELF).ru_maxrss before the operation (imports, weights, input ready) and after.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .outputs import first_png, write_results

# (key, width, height): Kodak as published, 4K UHD, and 3:2 camera frames of 4, 16 and
# 100 megapixels (above Pillow's and aecodec's default 89 Mpx limit, which the bench lifts).
SIZES = [("kodak", 768, 512), ("4k", 3840, 2160), ("4mpx", 2448, 1632), ("16mpx", 4896, 3264),
         ("100mpx", 12240, 8160)]


def _maxrss_mib() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024  # bytes on macOS, KiB on Linux


def child(op: str, codec_name: str, src: str, size: str, quality, bits: str, threads: int):
    import torch

    torch.set_num_threads(threads)
    from PIL import Image

    from .codecs import AECodec, by_name

    Image.MAX_IMAGE_PIXELS = None  # the sizes are ours
    # aecodec's default limits would refuse 100 Mpx; its default tiling is what is measured
    codec = AECodec(max_pixels=None, max_dimension=None) if codec_name == "aecodec" \
        else by_name(codec_name, threads)
    why = codec.unavailable()
    if why:
        print(json.dumps({"skipped": why}))
        return
    if op == "compress":
        w, h = map(int, size.split("x"))
        with Image.open(src) as im:
            # Upscaled natural image: real content, any size, no extra file to ship.
            img = im.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
        base = _maxrss_mib()
        t0 = time.perf_counter()
        data = codec.encode(img, quality)
        dt = time.perf_counter() - t0
        Path(bits).write_bytes(data)
    else:
        data = Path(bits).read_bytes()
        base = _maxrss_mib()
        t0 = time.perf_counter()
        codec.decode(data)
        dt = time.perf_counter() - t0
    print(json.dumps({"base_mib": base, "peak_mib": _maxrss_mib(), "seconds": dt,
                      "bytes": len(data)}))


def run(data: Path, out: Path, codec: str = "aecodec", quality=55, threads: int = 1,
        sizes=SIZES, log=print) -> dict:
    src = first_png(data)
    rows, skipped = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for label, w, h in sizes:
            bits = str(Path(tmp) / f"{w}x{h}.bin")
            for op in ("compress", "decompress"):
                cmd = [sys.executable, "-m", "bench.memory", op, codec, str(src), f"{w}x{h}",
                       str(quality), bits, str(threads)]
                p = subprocess.run(cmd, capture_output=True, text=True,
                                   cwd=Path(__file__).resolve().parent.parent)
                if p.returncode != 0:
                    raise RuntimeError(f"{op} {w}x{h} failed:\n{p.stderr[-2000:]}")
                r = json.loads(p.stdout.strip().splitlines()[-1])
                if "skipped" in r:
                    skipped = r["skipped"]
                    break
                r.update(size=label, width=w, height=h, op=op)
                log(f"  {label:8s} {op:10s} peak {r['peak_mib']:.0f} MiB "
                    f"(+{r['peak_mib'] - r['base_mib']:.0f}) {r['seconds']:.2f}s")
                rows.append(r)
            if skipped:
                break
    res = {"codec": codec, "quality": quality, "threads": threads, "source": src.name,
           "rows": rows, "skipped": skipped}
    return write_results(out, "memory", res, markdown)


def markdown(res: dict) -> str:
    L = [f"# Peak memory: {res['codec']} (quality {res['quality']}, {res['threads']} thread(s))", "",
         "Each row is a fresh process; peak = ru_maxrss of that process; 'before' = its peak "
         "with imports, weights and input loaded, just before the call. Input: "
         f"{res['source']} upscaled (Lanczos) to each size.", ""]
    if res["skipped"]:
        return "\n".join(L + [f"Skipped: {res['skipped']}", ""])
    L += ["| size | pixels | operation | peak RSS (MiB) | before (MiB) | added (MiB) | seconds | Mpx/s |",
          "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        L.append(f"| {r['size']} ({r['width']}x{r['height']}) | {r['width'] * r['height'] / 1e6:.1f} M "
                 f"| {r['op']} | {r['peak_mib']:.0f} | {r['base_mib']:.0f} | "
                 f"{r['peak_mib'] - r['base_mib']:.0f} | {r['seconds']:.2f} | "
                 f"{r['width'] * r['height'] / 1e6 / r['seconds']:.3f} |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    op, codec_name, src, size, quality, bits, threads = sys.argv[1:8]
    q = float(quality) if codec_name == "aecodec" else int(float(quality))
    child(op, codec_name, src, size, q, bits, int(threads))
