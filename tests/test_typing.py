"""The package ships py.typed (PEP 561), so the annotations of its public API are a promise to
every type checker that reads them: each is complete and names types that exist."""
import inspect
import subprocess
import sys
import typing
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image

import aecodec
from aecodec import compare, inputs
from aecodec.codec import Codec

PUBLIC = [aecodec.compress, aecodec.decompress, aecodec.read_header, aecodec.register_pillow,
          Codec.__init__, Codec.compress, Codec.decompress, Codec.open_image,
          Codec.decode_symbols, compare.compare]


def test_the_package_says_it_is_typed():
    assert resources.files("aecodec").joinpath("py.typed").is_file()


@pytest.mark.parametrize("func", PUBLIC, ids=lambda f: f.__qualname__)
def test_public_signatures_are_annotated_with_real_types(func):
    sig = inspect.signature(func)
    missing = [n for n, p in sig.parameters.items()
               if n != "self" and p.annotation is inspect.Parameter.empty]
    assert not missing and sig.return_annotation is not inspect.Signature.empty, missing
    # names only imported for type checkers (aecodec/__init__.py) come from these modules
    names = {**vars(inputs), "Image": Image, "Codec": Codec}
    hints = typing.get_type_hints(func, localns=names)
    assert set(hints) == {n for n in sig.parameters if n != "self"} | {"return"}


USER_CODE = '''
import numpy as np
import aecodec

data: bytes = aecodec.compress(np.zeros((8, 8, 3), np.uint8), quality=40, metadata="color")
img = aecodec.decompress(data, region=(0, 0, 4, 4))
print(img.width, aecodec.read_header(data)[0].height, aecodec.Codec(device="cpu").compress(img))
aecodec.compress(42)
aecodec.decompress(data, region=(0, 0))
'''


@pytest.mark.slow
def test_mypy_checks_a_users_calls(tmp_path):
    """What an embedding project's mypy makes of aecodec (about 30 s; needs mypy installed)."""
    pytest.importorskip("mypy")
    script = tmp_path / "user.py"
    script.write_text(USER_CODE)
    out = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent",
                          "--cache-dir", str(tmp_path / "cache"), str(script)],
                         capture_output=True, text=True)
    errors = [line for line in out.stdout.splitlines() if ": error:" in line]
    assert [e.split(":")[1] for e in errors] == ["8", "9"], out.stdout  # the two wrong calls


@pytest.mark.slow
def test_mypy_finds_nothing_in_the_package(tmp_path):
    """The package's own code type-checks clean under the repository's mypy settings (about
    40 s; needs mypy): a None that can reach a call, a wrong argument, a misspelt attribute."""
    pytest.importorskip("mypy")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(root / "pyproject.toml"),
                          "--cache-dir", str(tmp_path / "cache"), "aecodec"],
                         capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stdout
