"""README.md's Python examples run as written, and its CI commands are the ones .ci/run uses."""
import re
import shutil

import pytest

from conftest import ROOT, SAMPLE

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_examples_and_ci_commands():
    assert BLOCKS
    for marker in ("<!-- ci:install -->", "<!-- ci:test -->"):
        assert marker in README


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    """Each block runs in a fresh folder holding photo.png, as a user's working folder would."""
    shutil.copy(SAMPLE, tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {})


def test_readme_deprecation_table_matches_the_manifest():
    """README's table of retired models and the manifest's (which the error for their files
    quotes) name the same models and commits."""
    from aecodec import installed
    rows = re.findall(r"^\| `([\w.-]+)` \| [^|]+ \| [^|]+ \| `([0-9a-f]{7})` \|$", README, re.M)
    retired = installed.manifest()["retired"]
    assert rows and dict(rows) == {k: v["decodes_with_commit"] for k, v in retired.items()}
    assert not set(retired) & set(installed.manifest()["models"])
