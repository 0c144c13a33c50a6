"""Standalone fuzz run: many hostile inputs through the parser and the full decoder.

    python -m fuzz.run --count 100000 --jobs 2 --out fuzz/report.json
    python -m fuzz.run --replay 1234 --seed 0        # one input again, with its traceback
    python -m fuzz.run --replay-file crash.aec       # a saved input

Input number i of a run is a pure function of (seed, i) and the corpus (fuzz/mutate.py), so a
run splits over any number of worker processes and any failure replays exactly. Each worker
decodes with one torch thread and reports, per input, the outcome (success or the exception
class), wall and CPU time and peak RSS (reset before each input through /proc/self/clear_refs,
so it is that input's peak; ru_maxrss where that is unavailable).

Failures: an exception that is not an AecError, an inconsistency between the entry points, an
input over the CPU-time limit (--time-limit, default 2 s; CPU time, so that a loaded machine
does not make false alarms), an input whose peak RSS exceeds --rss-limit-mb (default 1024), or
a worker that crashes or hangs (killed after --hang-timeout seconds of wall time on one input).
The exit code is 1 when there is any failure. --save DIR keeps the failing inputs as files.
"""
from __future__ import annotations

import argparse
import base64
import collections
import json
import multiprocessing as mp
import os
import platform
import queue
import resource
import sys
import time
from pathlib import Path

FUZZ_MAX_PIXELS = 512 * 512  # see --max-pixels
CHUNK = 25  # inputs per task


# ----------------------------------------------------------------------------- memory probes


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb(per_input: bool) -> float:
    if per_input:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


# ----------------------------------------------------------------------------- worker


def _make_codec(max_pixels: int | None):
    import torch
    torch.set_num_threads(1)
    import aecodec
    return aecodec.Codec(max_pixels=max_pixels)


def _worker(slot, tasks, results, progress, corpus, opts):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fuzz import mutate, target
    codec = _make_codec(opts["max_pixels"])
    for data in corpus:  # warm up: lazy tables, first-call allocations
        target.check(data, codec)
    if opts["address_limit_mb"]:  # a runaway allocation fails here instead of taking the machine
        with open("/proc/self/status") as f:
            vm = next(int(l.split()[1]) for l in f if l.startswith("VmSize:")) * 1024
        limit = vm + opts["address_limit_mb"] * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    per_input = _reset_peak()
    base = slot * 3
    while True:
        task = tasks.get()
        if task is None:
            break
        start, stop = task
        progress[base + 2] = stop
        for i in range(start, stop):
            progress[base] = i
            progress[base + 1] = time.monotonic()
            kind, data = mutate.generate(opts["seed"], i, corpus)
            _reset_peak()
            t0, c0 = time.perf_counter(), time.process_time()
            verdict = target.check(data, codec)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            rss = _peak_rss_mb(per_input)
            failure = verdict.failure
            if failure is None and cpu > opts["time_limit"]:
                failure = f"took {cpu:.2f} s of CPU time (limit {opts['time_limit']} s)"
            if failure is None and rss > opts["rss_limit_mb"]:
                failure = f"peak RSS {rss:.0f} MiB (limit {opts['rss_limit_mb']} MiB)"
            results.put((i, kind, verdict.outcome, wall, cpu, rss, failure))
        progress[base + 1] = 0.0


# ----------------------------------------------------------------------------- parent


class Stats:
    def __init__(self):
        self.done: set[int] = set()
        self.outcomes = collections.Counter()
        self.by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.failures: list[dict] = []
        self.max_wall = (0.0, None)
        self.max_cpu = (0.0, None)
        self.max_rss = (0.0, None)

    def add(self, i, kind, outcome, wall, cpu, rss, failure, data_for):
        if i in self.done:
            return
        self.done.add(i)
        self.outcomes[outcome] += 1
        self.by_kind[kind][outcome] += 1
        self.max_wall = max(self.max_wall, (wall, i))
        self.max_cpu = max(self.max_cpu, (cpu, i))
        self.max_rss = max(self.max_rss, (rss, i))
        if failure:
            self.failures.append({"index": i, "kind": kind, "outcome": outcome, "reason": failure,
                                  "input_base64": base64.b64encode(data_for(i)).decode()})


def _start(ctx, slot, tasks, results, progress, corpus, opts):
    p = ctx.Process(target=_worker, args=(slot, tasks, results, progress, corpus, opts), daemon=True)
    p.start()
    return p


def run(opts: dict, corpus: list[bytes], log=print) -> dict:
    from fuzz import mutate
    count, jobs = opts["count"], opts["jobs"]
    ctx = mp.get_context("spawn")  # no fork after torch: a fresh interpreter per worker
    tasks, results = ctx.Queue(), ctx.Queue()
    progress = ctx.Array("d", 3 * jobs, lock=False)  # per slot: index, start time, task stop
    for start in range(0, count, CHUNK):
        tasks.put((start, min(count, start + CHUNK)))
    workers = [_start(ctx, s, tasks, results, progress, corpus, opts) for s in range(jobs)]
    stats = Stats()

    def data_for(i):
        return mutate.generate(opts["seed"], i, corpus)[1]

    t0 = time.monotonic()
    last_log = last_result = t0
    startup_deaths = 0
    while len(stats.done) < count:
        try:
            stats.add(*results.get(timeout=0.5), data_for)
            last_result = time.monotonic()
            continue  # drain the queue before looking at the workers
        except queue.Empty:
            pass
        now = time.monotonic()
        for slot, p in enumerate(workers):
            i, started, stop = progress[3 * slot], progress[3 * slot + 1], progress[3 * slot + 2]
            hung = started > 0 and now - started > opts["hang_timeout"] and p.is_alive()
            if hung:
                p.kill()
                p.join()
            if p.is_alive() or p.exitcode == 0:
                continue
            # the worker died: take the results it sent, blame input i, requeue the rest of its task
            while True:
                try:
                    stats.add(*results.get(timeout=0.2), data_for)
                except queue.Empty:
                    break
            i, stop = int(i), int(stop)
            if started > 0:
                if i not in stats.done:
                    reason = (f"hang: no result after {opts['hang_timeout']} s" if hung
                              else f"worker crashed (exit code {p.exitcode})")
                    stats.add(i, mutate.kind_of(opts["seed"], i), "crash", now - started, 0.0, 0.0,
                              reason, data_for)
                if i + 1 < stop:
                    tasks.put((i + 1, stop))
            else:
                startup_deaths += 1
                if startup_deaths > 3 * jobs:
                    raise RuntimeError(f"fuzz workers die before running anything (exit code "
                                       f"{p.exitcode}); try: python -m fuzz.run --replay 0")
            progress[3 * slot + 1] = 0.0
            workers[slot] = _start(ctx, slot, tasks, results, progress, corpus, opts)
            last_result = now
        idle = all(progress[3 * s + 1] == 0.0 for s in range(jobs))
        if idle and now - last_result > 30:  # a task lost with a worker: run what is missing
            missing = sorted(set(range(count)) - stats.done)
            for k in range(0, len(missing), CHUNK):
                for j in missing[k: k + CHUNK]:
                    tasks.put((j, j + 1))
            last_result = now
        if now - last_log > 30:
            last_log = now
            rate = len(stats.done) / (now - t0)
            log(f"{len(stats.done)}/{count} inputs, {len(stats.failures)} failures, {rate:.0f}/s")
    for _ in workers:
        tasks.put(None)
    for p in workers:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    elapsed = time.monotonic() - t0
    return _report(opts, corpus, stats, elapsed)


def _versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for name in ("aecodec", "torch", "numpy", "constriction", "pillow"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def _report(opts, corpus, stats: Stats, elapsed: float) -> dict:
    from aecodec import container
    head = container.read_header(corpus[0])[0]
    return {
        "inputs": len(stats.done),
        "failures": len(stats.failures),
        "outcomes": dict(stats.outcomes.most_common()),
        "by_kind": {k: dict(v.most_common()) for k, v in sorted(stats.by_kind.items())},
        "max_wall_s": round(stats.max_wall[0], 4), "max_wall_index": stats.max_wall[1],
        "max_cpu_s": round(stats.max_cpu[0], 4), "max_cpu_index": stats.max_cpu[1],
        "max_rss_mb": round(stats.max_rss[0], 1), "max_rss_index": stats.max_rss[1],
        "elapsed_s": round(elapsed, 1),
        "inputs_per_s": round(len(stats.done) / max(elapsed, 1e-9), 1),
        "options": opts,
        "corpus_sizes": [len(d) for d in corpus],
        "model": {"id": head.model_id, "weights_hash": head.weights_hash.hex()},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": _versions(),
        "failure_details": stats.failures[:200],
    }


def summary(report: dict) -> str:
    lines = [f"inputs run:      {report['inputs']} in {report['elapsed_s']} s "
             f"({report['inputs_per_s']}/s, {report['options']['jobs']} worker(s))",
             f"failures:        {report['failures']}",
             "outcomes:"]
    lines += [f"  {name:<26}{n}" for name, n in report["outcomes"].items()]
    lines += [f"max time:        {report['max_wall_s']} s wall, {report['max_cpu_s']} s CPU "
              f"(input {report['max_cpu_index']})",
              f"max RSS:         {report['max_rss_mb']} MiB (input {report['max_rss_index']})"]
    for f in report["failure_details"][:10]:
        lines.append(f"FAILURE input {f['index']} ({f['kind']}): {f['reason'].splitlines()[0]}")
    return "\n".join(lines)


def replay(data: bytes, max_pixels) -> int:
    import traceback

    from fuzz import target
    codec = _make_codec(max_pixels)
    t0 = time.process_time()
    verdict = target.check(data, codec)
    print(f"{len(data)} bytes -> {verdict.outcome} in {time.process_time() - t0:.3f} s CPU")
    try:
        codec.decompress(data)
    except Exception:  # show the decoder's own message / traceback
        traceback.print_exc()
    if verdict.failure:
        print("FAILURE:", verdict.failure)
        return 1
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10_000, help="inputs to run (default 10000)")
    ap.add_argument("--jobs", type=int, default=max(1, min(8, os.cpu_count() or 1)),
                    help="worker processes (default: the CPU count, at most 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the JSON report here")
    ap.add_argument("--save", type=Path, help="write each failing input to this folder")
    ap.add_argument("--time-limit", type=float, default=2.0, help="CPU seconds per input (2)")
    ap.add_argument("--hang-timeout", type=float, default=20.0,
                    help="wall seconds on one input before its worker is killed (20)")
    ap.add_argument("--rss-limit-mb", type=float, default=1024.0, help="peak RSS per input (1024)")
    ap.add_argument("--address-limit-mb", type=int, default=4096,
                    help="address space a worker may add after start-up, 0 = unlimited (4096): "
                         "a runaway allocation fails as MemoryError instead of swamping the machine")
    ap.add_argument("--max-pixels", type=int, default=FUZZ_MAX_PIXELS,
                    help=f"decoder's max_pixels (default {FUZZ_MAX_PIXELS}): keeps the cost of a "
                         "legitimately large declared image inside the limits; 0 = library default")
    ap.add_argument("--replay", type=int, metavar="INDEX", help="run input INDEX of --seed only")
    ap.add_argument("--replay-file", type=Path, help="run one saved input file")
    ap.add_argument("--dump", type=Path, help="with --replay: also write the input to this file")
    args = ap.parse_args(argv)
    from aecodec.container import DEFAULT_MAX_PIXELS
    max_pixels = args.max_pixels or DEFAULT_MAX_PIXELS
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    if args.replay_file:
        return replay(args.replay_file.read_bytes(), max_pixels)

    from fuzz import corpus as corpus_mod
    codec = _make_codec(max_pixels)
    corpus = [d for _, d in corpus_mod.build(codec)]
    if args.replay is not None:
        from fuzz import mutate
        kind, data = mutate.generate(args.seed, args.replay, corpus)
        print(f"input {args.replay} of seed {args.seed}: {kind}")
        if args.dump:
            args.dump.write_bytes(data)
        return replay(data, max_pixels)
    del codec

    opts = {"count": args.count, "jobs": args.jobs, "seed": args.seed,
            "time_limit": args.time_limit, "hang_timeout": args.hang_timeout,
            "rss_limit_mb": args.rss_limit_mb, "address_limit_mb": args.address_limit_mb,
            "max_pixels": max_pixels}
    report = run(opts, corpus, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(summary(report))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.save and report["failure_details"]:
        args.save.mkdir(parents=True, exist_ok=True)
        for f in report["failure_details"]:
            (args.save / f"{args.seed}-{f['index']}-{f['kind']}.aec").write_bytes(
                base64.b64decode(f["input_base64"]))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
