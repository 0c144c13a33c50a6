"""Fuzzing harness for the .aec parser and decoder (see docs/ROBUSTNESS.md).

    python -m fuzz.run --count 100000 --jobs 2 --out fuzz/report.json

`corpus` builds small real .aec files with the installed weights, `mutate` turns an index into
a deterministic hostile input (mutations of those files, truncations, random headers, chunk
surgery, random bytes), `target` runs one input through the parser and the full decoder and
judges the outcome, `run` drives many inputs in worker processes with time and memory limits.
The tests (tests/test_fuzz.py) reuse the same pieces for a short bounded run.
"""
