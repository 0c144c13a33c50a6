"""Fuzzing in the default suite: a short, bounded run of the harness in fuzz/.

Every hostile input must end in a decoded image of the declared size or an AecError subclass
(fuzz/target.py judges). The long run is `python -m fuzz.run` (docs/ROBUSTNESS.md); the
`slow` test below runs a bigger batch through it.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aecodec
from aecodec import container
from aecodec.errors import NotAecFileError, TruncatedFileError

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # fuzz/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

from fuzz import corpus as fuzz_corpus  # noqa: E402
from fuzz import mutate, target  # noqa: E402
from fuzz.run import FUZZ_MAX_PIXELS  # noqa: E402


@pytest.fixture(scope="module")
def fcodec():
    return aecodec.Codec(max_pixels=FUZZ_MAX_PIXELS)


@pytest.fixture(scope="module")
def corpus(fcodec):
    return [data for _, data in fuzz_corpus.build(fcodec)]


def assert_acceptable(data: bytes, codec) -> str:
    verdict = target.check(data, codec)
    assert verdict.failure is None, verdict.failure
    return verdict.outcome


def test_corpus_decodes(corpus, fcodec):
    assert len(corpus) == len(fuzz_corpus.SEEDS)
    for data in corpus:
        assert assert_acceptable(data, fcodec) == "ok"
    modes = {container.read_header(d)[0].mode for d in corpus}
    assert modes == set(container.MODES)
    assert any(container.decode_file(d).postfilter is not None for d in corpus)  # PFLT fuzzed


def test_every_truncation_of_real_files(corpus, fcodec):
    for data in corpus:
        for n in range(len(data)):
            with pytest.raises(TruncatedFileError if n else NotAecFileError):
                fcodec.decompress(data[:n])


def test_every_head_bit_flipped_with_crc_recomputed(corpus, fcodec):
    """Each bit of HEAD (sizes, mode, quality, coder, tiles, hash, model id) reaches the
    header validation and the decoder, not just the CRC check."""
    data = corpus[0]
    (head_len,) = struct.unpack_from("<I", data, mutate.PRE + 4)
    start = mutate.PRE + 8
    outcomes = set()
    for bit in range(8 * head_len):
        buf = bytearray(data)
        buf[start + bit // 8] ^= 1 << (bit % 8)
        outcomes.add(assert_acceptable(mutate.fix_crcs(bytes(buf)), fcodec))
    assert {"FormatError", "UnknownModelError", "LimitError"} <= outcomes


def test_crc_left_broken_names_the_chunk(corpus, fcodec):
    data = corpus[2]  # RGBA: HEAD, ZSTR, YSTR, ALPH, AEND
    _, chunks = mutate.split(data)
    pos = mutate.PRE
    for ctype, payload in chunks:
        if payload:
            buf = bytearray(data)
            buf[pos + 8 + len(payload) // 2] ^= 0x40
            with pytest.raises(aecodec.CorruptChunkError) as info:
                fcodec.decompress(bytes(buf))
            assert info.value.chunk == ctype.decode()
        pos += 12 + len(payload)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(mutate.ALL_KINDS), seed=st.integers(0, 2**31 - 1))
def test_mutations_of_real_files(corpus, fcodec, kind, seed):
    _, data = mutate.generate(seed, seed, corpus, kind=kind)
    assert_acceptable(data, fcodec)


@settings(max_examples=200, deadline=None)
@given(
    width=st.one_of(st.sampled_from(mutate.SIZES), st.integers(0, 2**32 - 1)),
    height=st.one_of(st.sampled_from(mutate.SIZES), st.integers(0, 2**32 - 1)),
    mode=st.one_of(st.integers(0, 3), st.integers(0, 255)),
    quality=st.one_of(st.integers(0, 10_000), st.integers(0, 65_535)),
    coder=st.sampled_from((0, 1, 1, 1, 2, 255)),
    tiles=st.one_of(st.just((0, 0)), st.tuples(st.integers(0, 65535), st.integers(0, 65535))),
    real_hash=st.booleans(),
    model_id=st.one_of(st.none(), st.binary(max_size=70)),
    id_length_delta=st.sampled_from((0, 0, 0, -1, 1, 200)),
    version=st.sampled_from(((1, 0), (1, 0), (1, 3), (0, 0), (2, 0), (255, 255))),
    appended=st.binary(max_size=8),
    streams=st.sampled_from(("own", "other", "random", "empty")),
    source=st.integers(0, 4),
    random_bytes=st.randoms(use_true_random=False),
)
def test_random_headers(corpus, fcodec, width, height, mode, quality, coder, tiles, real_hash,
                        model_id, id_length_delta, version, appended, streams, source, random_bytes):
    pre, chunks = mutate.split(corpus[source])
    fixed = mutate.HEAD_FIXED.unpack_from(chunks[0][1])
    real_id = chunks[0][1][mutate.HEAD_FIXED.size:]
    mid = real_id if model_id is None else model_id
    whash = fixed[7] if real_hash else bytes(random_bytes.getrandbits(8) for _ in range(8))
    idlen = (len(mid) + id_length_delta) % 256
    head = mutate.HEAD_FIXED.pack(width, height, mode, quality, coder, *tiles, whash, idlen)
    chunks[0] = (b"HEAD", head + mid + appended)
    if streams == "other":
        chunks = chunks[:1] + mutate.split(corpus[(source + 1) % len(corpus)])[1][1:]
    elif streams in ("random", "empty"):
        chunks = [(t, p if t in (b"HEAD", b"AEND") or streams == "random" and t == b"ALPH"
                   else random_bytes.randbytes(len(p) if streams == "random" else 0))
                  for t, p in chunks]
    assert_acceptable(pre[:8] + bytes(version) + b"".join(mutate.chunk(t, p) for t, p in chunks),
                      fcodec)


@settings(max_examples=200, deadline=None)
@given(prefix=st.sampled_from((b"", mutate.SIG, mutate.SIG + b"\x01\x00", mutate.SIG[:5])),
       body=st.binary(max_size=400))
def test_random_bytes(fcodec, prefix, body):
    assert_acceptable(prefix + body, fcodec)


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(max_size=64), declared=st.integers(0, 2**32 - 1))
def test_alpha_payloads(payload, declared):
    """unpack_alpha on anything: the expected plane or a FormatError, never more output."""
    w = declared % 300 + 1
    h = declared // 300 % 300 + 1
    for data in (payload, zlib.compress(payload)):
        try:
            out = container.unpack_alpha(data, w, h)
        except aecodec.FormatError:
            continue
        assert len(out) == w * h


def _run_harness(tmp_path, count, jobs=1):
    out = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "fuzz.run", "--count", str(count), "--jobs", str(jobs), "--seed", "7",
         "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["inputs"] == count and report["failures"] == 0
    assert sum(report["outcomes"].values()) == count
    assert "inputs run:" in proc.stdout and "max RSS:" in proc.stdout
    return report


def test_standalone_harness_smoke(tmp_path):
    report = _run_harness(tmp_path, 40)
    assert report["max_rss_mb"] > 0 and report["max_cpu_s"] < 2.0
    assert set(report["by_kind"]) <= set(mutate.ALL_KINDS)


@pytest.mark.slow
def test_standalone_harness_long(tmp_path):
    report = _run_harness(tmp_path, 20_000, jobs=2)
    assert report["outcomes"].get("ok", 0) > 0
