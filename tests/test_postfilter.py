"""The adaptive post-filter: its bytes, its exact arithmetic, the fit and the codec's use of it."""
import hashlib
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aecodec import container, postfilter, wiener
from aecodec.codec import quality_to_level
from aecodec.errors import FormatError, InputError
from aecodec.postfilter import PostFilter
from conftest import GOLDEN, psnr


def _filter(radius=3, cross=2, precision=9, seed=0, scale=40) -> PostFilter:
    rng = np.random.default_rng(seed)
    shape = PostFilter(radius, cross, precision, ((),) * 3)
    weights = tuple(tuple(int(v) for v in rng.integers(-scale, scale + 1, len(shape.layout(c)) + 1))
                    for c in range(3))
    return PostFilter(radius, cross, precision, weights)


def _reference(pf: PostFilter, img: np.ndarray) -> np.ndarray:
    """The filter straight from its definition (features times weights), in Python integers."""
    m = pf.margin
    pad = wiener.padded(img, m).astype(np.int64)
    h, w = img.shape[:2]

    def at(d, dy, dx):
        return pad[m + dy:m + dy + h, m + dx:m + dx + w, d]

    out = np.empty_like(img)
    for c in range(3):
        acc = np.full((h, w), pf.weights[c][-1], dtype=np.int64)
        for (d, kind, (dy, dx)), wt in zip(pf.layout(c), pf.weights[c]):
            feature = at(d, 0, 0) - at(c, 0, 0) if kind == "diff" else \
                at(d, dy, dx) + at(d, -dy, -dx) - 2 * at(d, 0, 0)
            acc += wt * feature
        out[:, :, c] = np.clip(at(c, 0, 0) + ((acc + (1 << (pf.precision - 1))) >> pf.precision),
                               0, 255)
    return out


def _random_image(h=37, w=53, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# -- bytes ----------------------------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(radius=st.integers(1, postfilter.MAX_RADIUS), cross=st.integers(0, postfilter.MAX_CROSS),
       precision=st.integers(1, postfilter.MAX_PRECISION), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([0, 1, 7, 300, 5000]))
def test_pack_unpack_round_trip(radius, cross, precision, seed, scale):
    pf = _filter(radius, cross, precision, seed, scale)
    assert postfilter.unpack(pf.pack()) == pf


def test_layout_sizes():
    # own: half of a radius-3 diamond (12); per other channel: the difference and half of a
    # radius-1 diamond (2); then the bias
    pf = _filter(3, 2)
    assert [len(w) for w in pf.weights] == [12 + 2 * 3 + 1] * 3
    assert pf.margin == 3
    assert _filter(1, 4).margin == 3  # cross diamond of radius 3 is the wider one


@pytest.mark.parametrize("payload,match", [
    (b"", "too short"),
    (bytes((3, 2, 9)), "too short"),
    (bytes((0, 2, 9, 0)) + b"\x80" * 60, "out of range"),
    (bytes((postfilter.MAX_RADIUS + 1, 2, 9, 0)) + b"\x80" * 60, "out of range"),
    (bytes((3, postfilter.MAX_CROSS + 1, 9, 0)) + b"\x80" * 60, "out of range"),
    (bytes((3, 2, 0, 0)) + b"\xff" * 20, "out of range"),
    (bytes((3, 2, postfilter.MAX_PRECISION + 1, 0)) + b"\xff" * 20, "out of range"),
    (bytes((3, 2, 9, postfilter.MAX_GOLOMB_ORDER + 1)) + b"\xff" * 20, "order"),
    (bytes((3, 2, 9, 0)) + b"\xff", "ends inside"),
    (bytes((3, 2, 9, 0)) + b"\x00" * 8, "too long"),
])
def test_unpack_rejects_malformed(payload, match):
    with pytest.raises(FormatError, match=match):
        postfilter.unpack(payload)


def test_unpack_rejects_trailing_data_and_nonzero_padding():
    good = _filter().pack()
    with pytest.raises(FormatError, match="after its weights"):
        postfilter.unpack(good + b"\x00")
    # 57 one-bit codes (all weights zero) leave 7 padding bits, which must be zero
    zeros = PostFilter(3, 2, 9, ((0,) * 19,) * 3).pack()
    assert postfilter.unpack(zeros).weights == ((0,) * 19,) * 3
    with pytest.raises(FormatError, match="after its weights"):
        postfilter.unpack(zeros[:-1] + bytes((zeros[-1] | 1,)))


def test_weights_that_could_overflow_int32_are_refused():
    huge = PostFilter(3, 2, 9, ((2**22,) * 19,) * 3)
    with pytest.raises(FormatError, match="32-bit"):
        postfilter.unpack(huge.pack())
    with pytest.raises(InputError, match="post-filter"):
        container.encode_file(_header(), b"z", b"y", post=huge)
    # codes near the largest the syntax allows (order 20, 30 prefix zeros: about 2**50) are refused
    # before any sum is formed, so no int64 overflow can wrap a bound check around
    giant = PostFilter(6, 4, 14, tuple((2**49 + c,) * len(PostFilter(6, 4, 14, ((),) * 3).layout(c))
                                       + (2**49,) for c in range(3)))
    with pytest.raises(FormatError, match="32-bit"):
        postfilter.unpack(giant.pack())


# -- arithmetic -----------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(radius=st.integers(1, 4), cross=st.integers(0, 3), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([3, 60, 2000]))
def test_apply_matches_the_definition(radius, cross, seed, scale):
    pf = _filter(radius, cross, 9, seed, scale)
    img = _random_image(seed=seed % 1000)
    assert np.array_equal(wiener.apply(pf, wiener.padded(img, pf.margin)), _reference(pf, img))


def test_zero_weights_are_the_identity_and_the_bias_shifts_levels():
    img = _random_image()
    zero = PostFilter(2, 1, 9, ((0,) * 9,) * 3)
    assert np.array_equal(wiener.apply(zero, wiener.padded(img, 2)), img)
    up = PostFilter(2, 1, 9, ((0,) * 8 + (512,),) * 3)  # bias of one level
    assert np.array_equal(wiener.apply(up, wiener.padded(img, 2)),
                          np.minimum(img.astype(np.int16) + 1, 255).astype(np.uint8))


def test_strips_do_not_change_the_result(monkeypatch):
    pf = _filter(4, 3, seed=5, scale=200)
    img = _random_image(h=70, w=31, seed=2)
    whole = wiener.apply(pf, wiener.padded(img, pf.margin))
    monkeypatch.setattr(wiener, "STRIP_PIXELS", 7 * 31 + 5)  # strips of 7 rows
    assert np.array_equal(wiener.apply(pf, wiener.padded(img, pf.margin)), whole)


def test_pinned_output():
    """The filter's arithmetic is part of the format: this output may never change."""
    pf = _filter(3, 2, 9, seed=11, scale=90)
    img = _random_image(h=40, w=40, seed=12)
    out = wiener.apply(pf, wiener.padded(img, pf.margin))
    expected = json.loads((GOLDEN / "format" / "postfilter.json").read_text())
    assert hashlib.sha256(pf.pack()).hexdigest() == expected["payload_sha256"]
    assert hashlib.sha256(out.tobytes()).hexdigest() == expected["output_sha256"]


# -- fitting --------------------------------------------------------------------------------------

def _blurred(img: np.ndarray) -> np.ndarray:
    f = img.astype(np.float64)
    pad = np.pad(f, ((1, 1), (1, 1), (0, 0)), mode="edge")
    blur = (pad[:-2, 1:-1] + pad[2:, 1:-1] + pad[1:-1, :-2] + pad[1:-1, 2:] + 4 * f) / 8
    return np.rint(blur).astype(np.uint8)


def test_fit_undoes_much_of_a_blur(sample):
    img = np.asarray(sample.crop((300, 100, 428, 196)))
    blurred = _blurred(img)
    pf = wiener.fit(img, blurred, 3, 2)
    pf.check()
    assert psnr(wiener.apply(pf, wiener.padded(blurred, pf.margin)), img) > psnr(blurred, img) + 1.0


def test_choose_keeps_a_filter_only_when_it_pays(sample):
    img = np.asarray(sample.crop((300, 100, 428, 196)))
    blurred = _blurred(img)
    assert wiener.choose(img, blurred, lam=0.1) is not None
    assert wiener.choose(img, blurred, lam=1e-7) is None  # bits cost more than any gain
    assert wiener.choose(img, img.copy(), lam=0.1) is None  # nothing to gain


def test_gray_images_fit_without_trouble():
    gray = np.repeat(_random_image(h=30, w=30)[:, :, :1], 3, axis=2)
    blurred = _blurred(gray)
    pf = wiener.fit(gray, blurred, 2, 2)
    out = wiener.apply(pf, wiener.padded(blurred, pf.margin))
    assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 0], out[:, :, 2])


# -- container and codec --------------------------------------------------------------------------

def _header(**kw) -> container.Header:
    fields = dict(width=16, height=16, mode="RGB", quality=50.0, model_id="m", weights_hash=b"h" * 8)
    return container.Header(**{**fields, **kw})


def test_container_versions_and_rules():
    pf = _filter()
    data = container.encode_file(_header(), b"z", b"y", post=pf)
    f = container.decode_file(data)
    assert f.version == (1, 2) and f.postfilter == pf and f.chunk_sizes["PFLT"] == len(pf.pack())
    assert container.decode_file(container.encode_file(_header(), b"z", b"y")).version == (1, 0)
    # PFLT is critical (an older reader refuses the file instead of showing it unfiltered) and
    # belongs to 1.2: the same chunk in a file that says 1.1 is malformed
    assert b"PFLT"[:1].isupper()
    older = data[:len(container.SIGNATURE)] + bytes((1, 1)) + data[len(container.SIGNATURE) + 2:]
    with pytest.raises(FormatError, match="PFLT chunk in a version 1.1 file"):
        container.decode_file(older)


@pytest.fixture(scope="module")
def filtered(codec, sample):
    """An effort-1 file of a 200x136 crop at quality 90, where a filter pays, and the crop."""
    img = sample.crop((200, 200, 400, 336))
    data = codec.compress(img, quality=90, effort=1)
    return data, np.asarray(img)


def test_effort_fits_a_filter_that_pays(codec, filtered):
    data, img = filtered
    f = container.decode_file(data)
    assert f.postfilter is not None and f.version == (1, 2)
    plain = container.encode_file(f.header, f.z_stream, f.y_stream, metadata=f.metadata)
    with_filter = psnr(codec.decompress(data), img)
    without = psnr(codec.decompress(plain), img)
    level = quality_to_level(90, codec.model.config.levels)
    lam = float(codec.model.net.lambdas(torch.tensor([level]))[0])
    cost = lam * 255**2 * 10 ** (-with_filter / 10) + 8 * len(data) / img[:, :, 0].size
    cost_plain = lam * 255**2 * 10 ** (-without / 10) + 8 * len(plain) / img[:, :, 0].size
    assert with_filter > without and cost < cost_plain


def test_effort_zero_files_have_no_filter(codec, small):
    f = container.decode_file(codec.compress(small, quality=40))
    assert f.postfilter is None and f.version == (1, 0)


@pytest.mark.parametrize("region", [(0, 0, 200, 136), (0, 0, 7, 5), (193, 129, 7, 7),
                                    (61, 17, 80, 90), (3, 130, 150, 6)])
def test_region_decode_equals_the_crop_of_a_full_decode(codec, filtered, region):
    data, _ = filtered
    full = np.asarray(codec.decompress(data))
    x, y, w, h = region
    assert np.array_equal(np.asarray(codec.decompress(data, region=region)), full[y:y + h, x:x + w])


def test_tiled_filtered_file_decodes_across_tiles(sample):
    import aecodec
    codec = aecodec.Codec(tile_size=64)
    img = sample.crop((200, 200, 400, 336))
    data = codec.compress(img, quality=90, effort=1)
    f = container.decode_file(data)
    assert f.postfilter is not None and f.header.tile_width == 64
    full = np.asarray(codec.decompress(data))
    assert np.array_equal(np.asarray(codec.decompress(data, region=(60, 60, 10, 10))),
                          full[60:70, 60:70])


def test_info_shows_the_filter(run, tmp_path):
    # the golden files of a shipped model that has them (models leave the package in turn)
    model_dir = next(d for d in sorted(GOLDEN.iterdir())
                     if (d / "rgb-q90-postfilter.aec").exists())
    aec = model_dir / "rgb-q90-postfilter.aec"
    r = run("info", aec)
    assert r.exit_code == 0 and "format version: 1.2" in r.output
    assert "post-filter:    diamond of radius" in r.output and "chunk PFLT" in r.output
    facts = json.loads(run("info", aec, "--json").output)
    assert facts["postfilter"]["precision"] == wiener.PRECISION
    plain = json.loads(run("info", model_dir / "rgb-q30.aec", "--json").output)
    assert plain["postfilter"] is None
