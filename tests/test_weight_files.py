"""Models stored as differences from the default (aecodec.weight_files): the same arrays come
back bit for bit, and the loader refuses a file, a base or a manifest that does not fit."""
import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from aecodec import weight_files as wf
from aecodec.errors import UnknownModelError
from aecodec.installed import MANIFEST
from aecodec.weights import read_arrays

DTYPES = [np.dtype(t) for t in ("<f2", "<f4", "<i2", "<i4", "<i8", "<u4", "|u1")]


@st.composite
def model_pair(draw):
    """Two models' arrays: shared names of equal and of changed layout, and names of each."""
    def array(dtype, shape):
        # any bit pattern: float NaNs, infinities and signed zeros must survive too
        raw = draw(hnp.arrays(np.dtype(f"{dtype.str[0]}u{dtype.itemsize}"), shape))
        return raw.view(dtype)
    model, base = {}, {}
    for i in range(draw(st.integers(0, 6))):
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=5))
        kind = draw(st.sampled_from(["same layout", "other shape", "other dtype", "model only",
                                     "base only"]))
        if kind != "base only":
            model[f"a{i}"] = array(dtype, shape)
        if kind == "same layout":
            base[f"a{i}"] = array(dtype, shape)
        elif kind == "other shape":
            base[f"a{i}"] = array(dtype, shape + (2,))
        elif kind in ("other dtype", "base only"):
            base[f"a{i}"] = array(np.dtype("<f8") if dtype.itemsize != 8 else np.dtype("<f4"),
                                  shape)
    return model, base


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes()
        for k in a)


@settings(max_examples=60, deadline=None)
@given(model_pair())
def test_a_difference_rebuilds_the_arrays_bit_for_bit(pair):
    model, base = pair
    stored = wf.read_npz(wf.npz_bytes(wf.difference(model, base)))
    rebuilt = wf.rebuild(stored, base)
    assert same(rebuilt, model)
    assert wf.content_digest(rebuilt) == wf.content_digest(model)


def test_the_content_digest_sees_names_dtypes_shapes_and_bits():
    a = {"w": np.zeros(4, np.float16)}
    digests = {wf.content_digest(x) for x in (
        a, {"v": a["w"]}, {"w": np.zeros(4, np.float32)}, {"w": np.zeros((2, 2), np.float16)},
        {"w": -a["w"]},  # -0.0: equal values, other bits
    )}
    assert len(digests) == 5


def _folder(tmp_path, models: dict, default: str):
    """A weights folder: `models` maps id -> (arrays, base id or None)."""
    entries = {}
    for mid, (arrays, base) in models.items():
        entry = {"sha256": "", "content_sha256": wf.content_digest(arrays)}
        if base is None:
            data = wf.npz_bytes(arrays)
            entry.update(file=f"{mid}.npz")
        else:
            data = wf.npz_bytes(wf.difference(arrays, models[base][0]))
            entry.update(file=f"{mid}.delta.npz", base=base)
        (tmp_path / entry["file"]).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        entry["sha256" if base is None else "stored_sha256"] = digest
        if base is not None:
            entry["sha256"] = "00" * 32  # the identity of the file it was first written as
        entries[mid] = entry
    manifest = {"models": entries, "default": default}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    return manifest


def _rewrite(tmp_path, manifest):
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))


def test_the_loader_rebuilds_and_checks_a_model_stored_as_a_difference(tmp_path):
    rng = np.random.default_rng(0)
    new = {"w": rng.standard_normal(64).astype(np.float16), "n": np.arange(5)}
    old = {"w": (new["w"] + np.float16(0.01)).astype(np.float16), "n": np.arange(5),
           "gone": np.ones(3, np.int16)}
    manifest = _folder(tmp_path, {"new": (new, None), "old": (old, "new")}, "new")
    assert same(read_arrays(tmp_path, "old"), old)

    # a damaged difference file
    entry = manifest["models"]["old"]
    good = (tmp_path / entry["file"]).read_bytes()
    (tmp_path / entry["file"]).write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(UnknownModelError, match="does not match its manifest hash"):
        read_arrays(tmp_path, "old")
    (tmp_path / entry["file"]).write_bytes(good)

    # rebuilt against other arrays than those it was made from
    entry["content_sha256"] = wf.content_digest(new)
    _rewrite(tmp_path, manifest)
    with pytest.raises(UnknownModelError, match="are not the arrays its manifest names"):
        read_arrays(tmp_path, "old")
    entry["content_sha256"] = wf.content_digest(old)

    # a manifest whose bases go round in a loop
    entry["base"] = "old"
    _rewrite(tmp_path, manifest)
    with pytest.raises(UnknownModelError, match="loop"):
        read_arrays(tmp_path, "old")


def test_a_base_without_the_arrays_is_refused(tmp_path):
    a = {"w": np.ones(3, np.float32)}
    b = {"w": np.zeros(3, np.float32)}
    _folder(tmp_path, {"a": (a, None), "b": (b, "a")}, "a")
    (tmp_path / "a.npz").write_bytes(wf.npz_bytes({"other": np.ones(3, np.float32)}))
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["models"]["a"]["sha256"] = hashlib.sha256((tmp_path / "a.npz").read_bytes()).hexdigest()
    _rewrite(tmp_path, manifest)
    with pytest.raises(UnknownModelError, match="do not rebuild from 'a'"):
        read_arrays(tmp_path, "b")


def test_the_shipped_models_other_than_the_default_are_differences():
    """What the package installs: the default whole, every other model relative to it."""
    from aecodec import installed
    m = installed.manifest()
    for mid, entry in m["models"].items():
        assert ("base" in entry) == (mid != m["default"]), mid
        assert entry.get("base", m["default"]) == m["default"]


def test_repack_turns_a_folder_of_whole_files_into_differences(tmp_path):
    """`python -m aecodec.train.export --repack`: what a folder written before session 46
    becomes (the weights/ of this repository was made so)."""
    from aecodec.train.export import main as export_main
    rng = np.random.default_rng(1)
    new = {"w": rng.standard_normal(256).astype(np.float16)}
    old = {"w": (new["w"] * np.float16(1.01)).astype(np.float16), "t": np.arange(7)}
    before = _folder(tmp_path, {"new": (new, None), "old": (old, None)}, "new")
    export_main(["--repack", "--out", str(tmp_path)])
    after = json.loads((tmp_path / MANIFEST).read_text())
    assert after["default"] == "new" and after["models"]["new"]["file"] == "new.npz"
    entry = after["models"]["old"]
    assert entry["base"] == "new" and entry["sha256"] == before["models"]["old"]["sha256"]
    assert same(read_arrays(tmp_path, "old"), old) and same(read_arrays(tmp_path, "new"), new)
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["new.npz", "old.delta-new.npz"]


@pytest.mark.parametrize("listing", [b"\xff", b"{", b"5", b'[1]', b'["absent"]'])
def test_a_malformed_difference_file_is_a_value_error(listing):
    stored = {wf.DELTA_NAMES: np.frombuffer(listing, dtype=np.uint8), "w": np.zeros(2, np.uint16)}
    with pytest.raises(ValueError):
        wf.rebuild(stored, {"w": np.zeros(2, np.float16)})


GOOD = "0" * 64
BAD_MANIFESTS = {
    "not JSON": b'{"models": ',
    "not UTF-8": b'\xff\xfe',
    "a list": b"[]",
    "no models": b'{"default": "x"}',
    "entry not an object": b'{"models": {"x": 1}}',
    "no file": b'{"models": {"x": {"sha256": "%s"}}}' % GOOD.encode(),
    "a path for a file": b'{"models": {"x": {"file": "../x.npz", "sha256": "%s"}}}' % GOOD.encode(),
    "a short hash": b'{"models": {"x": {"file": "x.npz", "sha256": "00"}}}',
    "an unlisted base": b'{"models": {"x": {"file": "x.npz", "sha256": "%s", "base": "y"}}}'
                        % GOOD.encode(),
    "an unlisted default": b'{"models": {}, "default": "y"}',
    "a retired entry not an object": b'{"models": {}, "retired": {"old": "abc1234"}}',
}


@pytest.mark.parametrize("content", BAD_MANIFESTS.values(), ids=list(BAD_MANIFESTS))
def test_a_malformed_manifest_is_an_unknown_model_error(tmp_path, monkeypatch, content):
    """AECODEC_WEIGHTS may name any folder: its manifest is checked before it is used, and
    `aecodec --version` still answers."""
    from aecodec import installed
    (tmp_path / MANIFEST).write_bytes(content)
    with pytest.raises(UnknownModelError, match="manifest"):
        read_arrays(tmp_path)
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tmp_path))
    assert "models: none usable (weights manifest" in installed.report()


def test_weights_files_that_are_missing_or_not_a_model(tmp_path, monkeypatch):
    from aecodec import weights
    monkeypatch.setenv("AECODEC_WEIGHTS", str(tmp_path))

    def listed(data: bytes | None):
        if data is not None:
            (tmp_path / "x.npz").write_bytes(data)
        digest = hashlib.sha256(data or b"").hexdigest()
        (tmp_path / MANIFEST).write_text(json.dumps(
            {"models": {"x": {"file": "x.npz", "sha256": digest}}, "default": "x"}))

    listed(None)
    with pytest.raises(UnknownModelError, match="cannot be read"):
        weights.load("x")
    listed(b"not a zip")
    with pytest.raises(UnknownModelError, match="not a numpy .npz"):
        weights.load("x")
    listed(wf.npz_bytes({"a": np.zeros(3)}))
    with pytest.raises(UnknownModelError, match="not a model this aecodec can load"):
        weights.load("x")
