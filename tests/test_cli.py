"""The command line through click's runner: happy paths, one-line errors, safe outputs."""
import io
import os
import signal
import subprocess
import sys

import pytest


@pytest.fixture()
def png(small, tmp_path):
    path = tmp_path / "in.png"
    small.save(path)
    return path


def test_compress_info_decompress(run, png, tmp_path):
    aec, back = tmp_path / "x.aec", tmp_path / "back.png"
    r = run("compress", png, aec, "-q", 42.5)
    assert r.exit_code == 0, r.output
    assert "bpp" in r.output and aec.exists()
    r = run("info", aec)
    assert r.exit_code == 0
    for field in ("256x192", "RGB", "42.5", "chunk YSTR", "bpp", "model"):
        assert field in r.output
    r = run("decompress", aec, back)
    assert r.exit_code == 0 and back.exists()


def test_info_of_several_files_goes_past_a_bad_one(run, png, tmp_path):
    import json
    a, b = tmp_path / "a.aec", tmp_path / "b.aec"
    assert run("compress", png, a, "-q", 20).exit_code == 0
    assert run("compress", png, b, "-q", 80).exit_code == 0
    bad = tmp_path / "bad.aec"
    bad.write_bytes(b"not a codec file")
    r = _invoke(["info", bad, a, tmp_path / "missing.aec", b])
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [f"aecodec: error: {bad}: not an .aec file (bad signature)",
                                     f"aecodec: error: {tmp_path / 'missing.aec'}: no such file"]
    blocks = r.stdout.split("\n\n")  # one block a good file, in the order given
    assert [blk.splitlines()[0].split()[-1] for blk in blocks] == [str(a), str(b)]
    r = _invoke(["info", "--json", a, b])  # JSON Lines: one object a line
    assert r.exit_code == 0
    assert [json.loads(line)["quality"] for line in r.stdout.splitlines()] == [20, 80]


def test_dst_defaults_to_src_with_the_new_suffix(run, png, tmp_path):
    r = run("compress", png, "-q", 20)
    aec = png.with_suffix(".aec")
    assert r.exit_code == 0 and aec.exists(), r.output
    original = png.read_bytes()
    r = run("decompress", aec)  # in.png is the original: kept, as any existing output
    assert r.exit_code == 1 and "--force" in r.output and png.read_bytes() == original
    r = run("decompress", aec, "--format", "webp")
    assert r.exit_code == 0 and aec.with_suffix(".webp").exists()
    r = run("compress", aec)
    assert r.exit_code == 2 and "already ends in .aec" in r.output
    assert run("compress", png, aec, tmp_path / "third").exit_code == 2


def test_existing_output_needs_force(run, png, tmp_path):
    aec = tmp_path / "x.aec"
    aec.write_bytes(b"precious")
    r = run("compress", png, aec)
    assert r.exit_code == 1 and "--force" in r.output
    assert aec.read_bytes() == b"precious"
    assert run("compress", png, aec, "--force").exit_code == 0
    assert aec.read_bytes() != b"precious"


def test_never_overwrites_input(run, png):
    r = run("compress", png, png, "--force")
    assert r.exit_code == 1 and "input" in r.output


@pytest.mark.parametrize("content", [b"", b"garbage" * 10])
def test_bad_file_is_one_line_and_exit_1(run, tmp_path, content):
    bad = tmp_path / "bad.aec"
    bad.write_bytes(content)
    out = tmp_path / "out.png"
    r = run("decompress", bad, out)
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aecodec: error:")
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_a_format_that_cannot_hold_the_mode_is_one_line_and_writes_nothing(run, small, tmp_path):
    src, aec, out = tmp_path / "a.png", tmp_path / "a.aec", tmp_path / "a.jpg"
    small.convert("RGBA").save(src)
    assert run("compress", src, aec).exit_code == 0
    r = run("decompress", aec, out)
    assert r.exit_code == 1, r.output
    assert r.output.strip() == ("aecodec: error: JPEG cannot hold a mode RGBA image: write it as "
                                "PNG, WebP or TIFF, which can")
    assert not out.exists() and not list(tmp_path.glob(".*.part"))
    assert run("decompress", aec, tmp_path / "a.webp").exit_code == 0


def test_missing_input(run, tmp_path):
    r = run("compress", tmp_path / "nope.png", tmp_path / "o.aec")
    assert r.exit_code == 1 and "no such file" in r.output
    r = run("info", tmp_path)
    assert r.exit_code == 1 and "directory" in r.output


def test_usage_error_exit_2(run):
    assert run("compress", "-q", 500, "a", "b").exit_code == 2


def test_demo_runs_on_bundled_sample(run, tmp_path):
    r = run("demo", "-q", 50, "-o", tmp_path)
    assert r.exit_code == 0, r.output
    assert "PSNR" in r.output and (tmp_path / "q50.aec").exists()


def _invoke(args, stdin: bytes = b""):
    """The command with bytes on standard input; stdout and stderr apart (click 8.2 always
    keeps them apart, 8.1 only when told to)."""
    import inspect

    from click.testing import CliRunner

    from aecodec.cli import main
    apart = {"mix_stderr": False} if "mix_stderr" in inspect.signature(CliRunner).parameters else {}
    return CliRunner(**apart).invoke(main, [str(a) for a in args], input=stdin,
                                     catch_exceptions=False)


def test_dash_is_standard_input_and_output(png, tmp_path):
    r = _invoke(["compress", "-", "-", "-q", 30], png.read_bytes())
    assert r.exit_code == 0
    data = r.stdout_bytes
    assert data.startswith(b"\x8bAEC") and "<stdin> -> <stdout>" in r.stderr
    aec = tmp_path / "x.aec"
    assert _invoke(["compress", png, aec, "-q", 30]).exit_code == 0
    assert aec.read_bytes() == data  # the same file either way
    r = _invoke(["decompress", "-", "--format", "webp"], data)  # DST left out: stdout too
    assert r.exit_code == 0 and r.stdout_bytes[8:12] == b"WEBP"
    r = _invoke(["decompress", "-", tmp_path / "back.png"], data)
    assert r.exit_code == 0 and (tmp_path / "back.png").exists()


def test_dash_errors_are_one_line_and_write_nothing(tmp_path):
    r = _invoke(["decompress", "-", "-"], b"\0" * 10000)
    assert r.exit_code == 1 and r.stdout_bytes == b""
    assert r.stderr.strip() == "aecodec: error: not an .aec file (bad signature)"
    r = _invoke(["compress", "-", "-"], b"hello")
    assert r.exit_code == 1 and r.stdout_bytes == b""
    assert "not an image Pillow can read" in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.skipif(not hasattr(signal, "SIGPIPE"), reason="POSIX pipes")
def test_a_reader_that_goes_away_ends_it_quietly(run, png, tmp_path):
    """`aecodec info x.aec | head -1`: the reader has gone when the output is written; no
    error line, the status of a process ended by SIGPIPE."""
    aec = tmp_path / "x.aec"
    assert run("compress", png, aec).exit_code == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: the first write fails with EPIPE
    try:
        r = subprocess.run([sys.executable, "-c", "from aecodec.cli import main; main()", "info",
                            str(aec)], stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)
    assert r.stderr == b"" and r.returncode == 128 + signal.SIGPIPE


def test_file_objects_in_the_api(codec, png):
    with open(png, "rb") as fh:
        data = codec.compress(fh, 30)
    assert data == codec.compress(png, 30)
    with io.BytesIO(data) as fh:
        assert codec.decompress(fh).size == (256, 192)


def test_help_version_and_info_do_not_import_torch(tmp_path):
    """torch takes seconds to import: the package, the command's options and `aecodec info`
    go without it, and `aecodec.Codec` brings it in when first used."""
    import numpy as np

    import aecodec

    pixels = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    path = tmp_path / "x.aec"
    path.write_bytes(aecodec.compress(pixels, quality=10))
    code = ("import sys; from aecodec.cli import main\n"
            "for args in (['--help'], ['--version'], ['info', sys.argv[1]], ['info', '--json', sys.argv[1]]):\n"
            "    try:\n"
            "        main(args)\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0, (args, e.code)\n"
            "assert 'torch' not in sys.modules\n"
            "import aecodec; aecodec.Codec\n"
            "assert 'torch' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "format version" in out.stdout and '"width": 48' in out.stdout
    # --version is what a bug report needs: the models and every version that decides the bytes
    from aecodec import installed
    assert f"(default: {installed.default_model_id()})" in out.stdout
    assert "Python 3." in out.stdout and "torch 2." in out.stdout and "constriction 0." in out.stdout


def test_python_dash_m_runs_the_command_line(tmp_path):
    """`python -m aecodec` is the `aecodec` command (same options, same exit codes), named as
    it was called in its usage line."""
    run = [sys.executable, "-m", "aecodec"]
    out = subprocess.run(run + ["--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "python -m aecodec" in out.stdout and "compress" in out.stdout
    out = subprocess.run(run + ["info", str(tmp_path / "missing.aec")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0 and out.stderr.startswith("aecodec: error:")


def test_ctrl_c_while_the_command_line_is_imported_is_one_line(tmp_path):
    """The `aecodec` script's entry (aecodec.__main__.main) imports the command line itself:
    SIGINT arriving during that import (here sent by an import hook, so it lands there every
    time) ends with one line and exit code 130. The child restores Ctrl-C's usual handler
    first: a shell without job control starts background jobs with SIGINT ignored, and Python
    keeps that (as test_safety's signal tests do)."""
    child = tmp_path / "child.py"
    child.write_text(
        "import os, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "class Hook:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'aecodec.cli':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Hook())\n"
        "sys.argv = ['aecodec', '--help']\n"
        "from aecodec.__main__ import main\n"
        "main()\n")
    out = subprocess.run([sys.executable, str(child)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 130 and out.stderr == "aecodec: error: interrupted\n", out.stderr
    assert out.stdout == ""
