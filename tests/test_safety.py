"""Safety guarantees of docs/ROBUSTNESS.md: stream bounds, limits on both sides, bad encoder
input, bounded reading, and outputs that are never partial, even under Ctrl-C or kill -9."""
from __future__ import annotations

import dataclasses
import os
import signal
import stat
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import aecodec
from aecodec import codec as codec_mod
from aecodec import container, entropy
from aecodec.cli import PART_SUFFIX, write_atomic
from aecodec.errors import OutputError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def good(codec, small):
    return codec.compress(small.crop((0, 0, 64, 48)), quality=50)


def rewrite(data: bytes, **changes) -> bytes:
    f = container.decode_file(data, max_pixels=None, max_dimension=None)
    streams = {"z_stream": f.z_stream, "y_stream": f.y_stream, "alpha": f.alpha}
    streams.update({k: changes.pop(k) for k in list(changes) if k in streams})
    header = dataclasses.replace(f.header, **changes)
    return container.encode_file(header, streams["z_stream"], streams["y_stream"], streams["alpha"])


def one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aecodec: error: "), output
    return lines[0]


# ----------------------------------------------------------------------------- stream bounds


def test_real_streams_lie_within_the_bounds(codec, small):
    lm = codec.model
    z_bits = codec_mod.min_bits_per_row(lm.z_tables)
    y_bits = codec_mod.min_bits_per_row(lm.y_tables)
    rgba = small.convert("RGBA").crop((0, 0, 100, 70))
    for image in (small, rgba, small.convert("L").crop((10, 10, 17, 90))):
        for q in (0, 50, 100):
            data = codec.compress(image, quality=q)
            f, _, (s,) = codec.decode_symbols(data)
            for stream, n, bits in (
                    (f.z_stream, s.z.size, float(z_bits.sum()) * (s.z.size // lm.config.n)),
                    (f.y_stream, s.y.size, float(np.bincount(s.y_rows.ravel(), minlength=len(y_bits)) @ y_bits))):
                assert codec_mod.min_stream_bytes(bits) <= len(stream) <= codec_mod.max_stream_bytes(n)


@pytest.mark.parametrize("which", ["z", "y"])
def test_bounds_hold_for_extreme_symbol_sequences(codec, which):
    """The tightest cases for each table row: every symbol its row's most probable entry
    (fewest bytes possible) and every symbol an escape of an extreme value (most bytes)."""
    tables = getattr(codec.model, f"{which}_tables")
    bits = codec_mod.min_bits_per_row(tables)
    n = 20_000
    for r in range(tables.rows):
        freqs = tables.row_freqs(r)
        best = int(np.argmax(freqs))
        value = tables.offsets[r] + best if best < tables.lengths[r] else entropy.VALUE_MAX
        cheapest = entropy.encode(np.full(n, value), np.full(n, r), tables)
        assert len(cheapest) >= codec_mod.min_stream_bytes(bits[r] * n), r
        extremes = np.where(np.arange(n) % 2, entropy.VALUE_MAX, entropy.VALUE_MIN)
        dearest = entropy.encode(extremes, np.full(n, r), tables)
        assert len(dearest) <= codec_mod.max_stream_bytes(n), r


def test_header_claiming_a_larger_image_is_rejected_before_decoding(codec, good):
    """A few hundred bytes cannot hold an 8192x8192 image: refused from the lengths, at once."""
    lm = codec.model
    f = container.decode_file(good)
    positions = (8192 // 64) ** 2
    if codec_mod.min_stream_bytes(float(codec_mod.min_bits_per_row(lm.z_tables).sum()) * positions) \
            <= len(f.z_stream):
        pytest.skip("these weights' z tables are too peaked for this bound to bite")
    t0 = time.process_time()
    with pytest.raises(aecodec.DecodeError, match="ZSTR"):
        codec.decompress(rewrite(good, width=8192, height=8192))
    assert time.process_time() - t0 < 1.0


def test_stream_longer_than_any_encoding_is_rejected(codec, good):
    f = container.decode_file(good)
    n_y = codec.model.config.m * 4 * 4  # 64x48 pads to 64x64: 4x4 positions of y
    junk = f.y_stream + bytes(codec_mod.max_stream_bytes(n_y) + 4 - len(f.y_stream))
    with pytest.raises(aecodec.DecodeError, match="YSTR"):
        codec.decompress(rewrite(good, y_stream=junk))


def test_empty_streams_are_rejected(codec, good):
    with pytest.raises(aecodec.DecodeError):
        codec.decompress(rewrite(good, z_stream=b"", y_stream=b""))


def test_a_coder_panic_becomes_a_decode_error(codec, good, monkeypatch):
    class PanicException(BaseException):  # what pyo3 raises for a Rust panic
        pass

    def panics(*args, **kwargs):
        raise PanicException("index out of bounds")
    monkeypatch.setattr(entropy, "decode", panics)
    with pytest.raises(aecodec.DecodeError, match="ZSTR"):
        codec.decompress(good)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(entropy, "decode", interrupted)
    with pytest.raises(KeyboardInterrupt):  # only panics are converted
        codec.decompress(good)


# ----------------------------------------------------------------------------- reading files


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_input_is_refused_at_once(codec):
    with pytest.raises(aecodec.NotAecFileError):
        codec.decompress("/dev/zero")


def test_file_far_larger_than_its_header_justifies(codec, good, tmp_path):
    path = tmp_path / "huge.aec"
    path.write_bytes(good)
    with open(path, "r+b") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB of zeros after a valid file
    t0 = time.perf_counter()
    with pytest.raises(aecodec.FormatError, match="larger than its header"):
        codec.decompress(path)
    assert time.perf_counter() - t0 < 5


def test_unreadable_paths(codec, tmp_path, good):
    with pytest.raises(aecodec.InputError, match="directory"):
        codec.decompress(tmp_path)
    with pytest.raises(aecodec.InputError, match="no such file"):
        codec.decompress(tmp_path / "missing.aec")
    plain = tmp_path / "plain.aec"
    plain.write_bytes(good)
    with pytest.raises(aecodec.InputError):
        codec.decompress(plain / "below-a-file.aec")
    if os.geteuid() != 0:  # root reads anything
        plain.chmod(0)
        with pytest.raises(aecodec.InputError, match="cannot read"):
            codec.decompress(plain)


def test_path_and_bytes_agree(codec, good, tmp_path):
    path = tmp_path / "x.aec"
    path.write_bytes(good)
    assert np.array_equal(np.asarray(codec.decompress(path)), np.asarray(codec.decompress(good)))


# ----------------------------------------------------------------------------- encoder input


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width x height and holds almost nothing (a bomb's header)."""
    def chunk(t, p):
        return struct.pack(">I", len(p)) + t + p + struct.pack(">I", zlib.crc32(t + p))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size,match", [
    ((20_000, 20_000), "MAX_IMAGE_PIXELS"),   # Pillow's own DecompressionBombError
    ((10_000, 10_000), "max_pixels"),         # above our limit, below Pillow's error threshold
    ((70_000, 10), "max_dimension"),
])
def test_encoder_refuses_huge_images_from_the_header(codec, tmp_path, size, match):
    path = png_header_only(tmp_path / "bomb.png", *size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no DecompressionBombWarning either
        with pytest.raises(aecodec.LimitError, match=match):
            codec.compress(path)


def test_encoder_limits_apply_to_in_memory_images(small):
    strict = aecodec.Codec(max_pixels=1000)
    with pytest.raises(aecodec.LimitError):
        strict.compress(small)
    with pytest.raises(aecodec.LimitError):
        aecodec.Codec(max_dimension=100).compress(np.zeros((10, 101, 3), np.uint8))


@pytest.mark.parametrize("image", [
    Image.new("RGB", (0, 0)), Image.new("L", (0, 7)), np.zeros((0, 5, 3), np.uint8),
    Image.new("I", (8, 8)), Image.new("F", (8, 8)), np.zeros((8, 8, 3), np.float32),
    np.zeros((8, 8, 5), np.uint8), "not an image at all",
], ids=["rgb-0x0", "l-0x7", "array-0x5", "i32", "float", "float-array", "5-channels", "str"])
def test_bad_encoder_input(codec, image):
    with pytest.raises(aecodec.InputError):
        codec.compress(image)


def _broken_files(tmp_path: Path, small) -> dict[str, Path]:
    small.save(tmp_path / "ok.png")
    small.save(tmp_path / "ok.jpg", quality=90)
    files = {}
    for name, content in {
        "truncated.png": (tmp_path / "ok.png").read_bytes()[:400],
        "truncated.jpg": (tmp_path / "ok.jpg").read_bytes()[:600],
        "garbage-idat.png": (tmp_path / "ok.png").read_bytes()[:200] + os.urandom(2000),
        "text.png": b"hello, I am not an image\n" * 10,
        "empty.png": b"",
    }.items():
        files[name] = tmp_path / name
        files[name].write_bytes(content)
    return files


def test_corrupt_image_files(codec, small, tmp_path, run):
    for name, path in _broken_files(tmp_path, small).items():
        with pytest.raises(aecodec.InputError):
            codec.compress(path)
        r = run("compress", path, tmp_path / f"{name}.aec")
        assert r.exit_code == 1
        one_error_line(r.output)
        assert not (tmp_path / f"{name}.aec").exists()
    assert not list(tmp_path.glob("*" + PART_SUFFIX))


# ----------------------------------------------------------------------------- command line


@pytest.fixture()
def png(small, tmp_path):
    path = tmp_path / "in.png"
    small.crop((0, 0, 64, 48)).save(path)
    return path


def test_limit_flags_on_both_sides(run, png, tmp_path):
    aec = tmp_path / "x.aec"
    r = run("compress", png, aec, "--max-pixels", 100)
    assert r.exit_code == 1 and "max_pixels" in one_error_line(r.output) and not aec.exists()
    r = run("compress", png, aec, "--max-dimension", 50)
    assert r.exit_code == 1 and "max_dimension" in one_error_line(r.output)
    assert run("compress", png, aec, "--max-pixels", 100, "--no-limits").exit_code == 0
    out = tmp_path / "out.png"
    r = run("decompress", aec, out, "--max-pixels", 100)
    assert r.exit_code == 1 and "max_pixels" in one_error_line(r.output) and not out.exists()
    r = run("decompress", aec, out, "--max-dimension", 63)
    assert r.exit_code == 1 and "max_dimension" in one_error_line(r.output)
    assert run("decompress", aec, out, "--max-dimension", 64).exit_code == 0
    assert run("decompress", aec, tmp_path / "o2.png", "--no-limits").exit_code == 0


def test_cli_refuses_pillow_bomb_in_one_line(run, tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", 20_000, 20_000)
    r = run("compress", bomb, tmp_path / "b.aec")
    assert r.exit_code == 1 and "MAX_IMAGE_PIXELS" in one_error_line(r.output)
    # a larger --max-dimension lets it through to decoding, which then fails cleanly
    wide = png_header_only(tmp_path / "wide.png", 70_000, 10)
    r = run("compress", wide, tmp_path / "w.aec", "--max-dimension", 80_000)
    assert r.exit_code == 1 and "cannot read image" in one_error_line(r.output)
    assert Image.MAX_IMAGE_PIXELS == container.DEFAULT_MAX_PIXELS  # restored after the run


def test_cli_one_line_for_hostile_aec(run, good, tmp_path):
    f = container.decode_file(good)
    bad = bytearray(good)
    bad[good.index(b"YSTR") + 8 + len(f.y_stream) // 2] ^= 1
    cases = {"crc.aec": bytes(bad), "dir": None, "zero.aec": b"\0" * 100,
             "stretched.aec": rewrite(good, width=8000, height=8000)}
    for name, content in cases.items():
        src = tmp_path / name
        if content is None:
            src.mkdir()
        else:
            src.write_bytes(content)
        r = run("decompress", src, tmp_path / "out.png")
        assert r.exit_code == 1, name
        line = one_error_line(r.output)
        if name == "crc.aec":
            assert "YSTR" in line
    assert not (tmp_path / "out.png").exists() and not list(tmp_path.glob("*" + PART_SUFFIX))
    if Path("/dev/zero").exists():
        r = run("info", "/dev/zero")
        assert r.exit_code == 1 and "not an .aec file" in one_error_line(r.output)


def test_internal_errors_are_one_line(run, good, tmp_path, monkeypatch):
    src = tmp_path / "x.aec"
    src.write_bytes(good)

    def broken(self, data, **options):
        raise RuntimeError("simulated bug")
    monkeypatch.setattr(aecodec.Codec, "decompress", broken)
    r = run("decompress", src, tmp_path / "o.png")
    assert r.exit_code == 1 and "internal error: RuntimeError" in one_error_line(r.output)


def test_output_checks_come_before_the_work(run, png, tmp_path):
    r = run("decompress", png, tmp_path / "out.xyz")  # not even an .aec: the extension first
    assert r.exit_code == 1 and "extension" in one_error_line(r.output)
    r = run("compress", png, tmp_path / "no-such-dir" / "x.aec")
    assert r.exit_code == 1 and "no such directory" in one_error_line(r.output)
    r = run("compress", png, tmp_path)
    assert r.exit_code == 1 and "directory" in one_error_line(r.output)


def test_output_permissions_follow_umask(run, png, tmp_path):
    mask = os.umask(0o027)
    try:
        aec = tmp_path / "x.aec"
        assert run("compress", png, aec).exit_code == 0
        assert stat.S_IMODE(aec.stat().st_mode) == 0o640
    finally:
        os.umask(mask)


def test_write_atomic_failure_and_race(tmp_path):
    dst = tmp_path / "out.bin"

    def failing(tmp):
        Path(tmp).write_bytes(b"half")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        write_atomic(dst, failing, force=False)
    assert not dst.exists() and not list(tmp_path.iterdir())

    def racing(tmp):  # another writer creates the output while we write ours
        Path(tmp).write_bytes(b"ours")
        dst.write_bytes(b"theirs")
    with pytest.raises(OutputError, match="exists"):
        write_atomic(dst, racing, force=False)
    assert dst.read_bytes() == b"theirs" and list(tmp_path.iterdir()) == [dst]
    write_atomic(dst, lambda tmp: Path(tmp).write_bytes(b"ours"), force=True)
    assert dst.read_bytes() == b"ours" and list(tmp_path.iterdir()) == [dst]


# ----------------------------------------------------------------------------- signals

# The CLI in a child process, with the write of the temporary file slowed down: half the data,
# then a marker file, then a long sleep. The test signals the child at that moment, when a
# partial file exists on disk. A shell without job control starts background jobs with SIGINT
# ignored and Python keeps that, so the child restores Ctrl-C's usual handler: the test then
# means the same however pytest itself was launched.
_CHILD = r"""
import os, pathlib, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
marker = pathlib.Path(os.environ["AEC_TEST_MARKER"])
real = pathlib.Path.write_bytes
def slow(self, data):
    if not self.name.endswith(".part"):
        return real(self, data)
    with open(self, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        marker.write_text("writing")
        time.sleep(120)
        f.write(data[len(data) // 2:])
    return len(data)
pathlib.Path.write_bytes = slow
from aecodec.cli import main
sys.argv = ["aecodec", *sys.argv[1:]]
main()
"""


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _interrupt_while_writing(tmp_path, png, sig, *extra):
    out = tmp_path / "out.aec"
    marker = tmp_path / "writing.marker"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, "compress", str(png), str(out), *extra],
                            env={**_env(), "AEC_TEST_MARKER": str(marker)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the child never started writing"
        time.sleep(0.02)
    parts = list(tmp_path.glob(f".{out.name}.*{PART_SUFFIX}"))
    assert len(parts) == 1 and parts[0].stat().st_size > 0  # a partial file exists right now
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    return out, proc.returncode, stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_nothing_behind(tmp_path, png, sig):
    out, rc, stderr = _interrupt_while_writing(tmp_path, png, sig)
    assert rc == 128 + sig
    line = one_error_line(stderr)
    assert ("interrupted" if sig == signal.SIGINT else "terminated") in line
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "writing.marker"]


def test_kill_9_never_leaves_a_partial_output(tmp_path, png):
    out, rc, _ = _interrupt_while_writing(tmp_path, png, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert not out.exists()  # the final name never holds a partial file
    # a SIGKILL cannot clean up: what remains is recognisably a temporary file
    left = sorted(p.name for p in tmp_path.iterdir() if p.name not in ("in.png", "writing.marker"))
    assert len(left) == 1 and left[0].startswith(".out.aec.") and left[0].endswith(PART_SUFFIX)


def test_kill_9_keeps_an_existing_output_intact(tmp_path, png):
    (tmp_path / "out.aec").write_bytes(b"precious")
    out, rc, _ = _interrupt_while_writing(tmp_path, png, signal.SIGKILL, "--force")
    assert rc == -signal.SIGKILL and out.read_bytes() == b"precious"


def test_kill_9_of_a_real_compress(tmp_path, sample):
    """Unpatched `python -m aecodec.cli compress` killed after a short delay."""
    src = tmp_path / "large.png"
    sample.resize((1536, 1024)).save(src)  # seconds of encoding on one thread
    out = tmp_path / "large.aec"
    proc = subprocess.Popen([sys.executable, "-m", "aecodec.cli", "compress", str(src), str(out)],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.5)
    finished = proc.poll() is not None
    proc.kill()
    proc.wait(timeout=60)
    if finished:
        pytest.skip("compress finished before the kill")
    assert not out.exists()
    assert all(p.name.startswith(".large.aec.") and p.name.endswith(PART_SUFFIX)
               for p in tmp_path.iterdir() if p != src)
