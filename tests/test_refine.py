"""Encoder-side refinement (aecodec.refine, `effort`): ordinary files, better for their cost."""
import numpy as np
import pytest
import torch
from PIL import Image

import aecodec
from aecodec import efforts, refine, weights
from aecodec.codec import quality_to_level
from aecodec.exact import ACT_BITS


@pytest.fixture(scope="module")
def tiny(small) -> Image.Image:
    """128x128: a few refinement steps take well under a second."""
    return small.crop((64, 32, 192, 160))


def rd_cost(data: bytes, image: Image.Image, lm) -> float:
    """What refinement minimizes, measured on the real file: lambda * 255^2 * MSE + bpp."""
    header = aecodec.read_header(data)[0]
    level = quality_to_level(header.quality, lm.config.levels)
    lam = float(lm.net.lambdas(torch.tensor([level]))[0])
    out = np.asarray(aecodec.decompress(data), dtype=np.float64)
    mse = np.mean((out / 255 - np.asarray(image, dtype=np.float64) / 255) ** 2)
    return lam * 255**2 * mse + 8 * len(data) / (image.width * image.height)


@pytest.mark.parametrize("quality", [10, 70])
def test_effort_lowers_the_rate_distortion_cost_of_the_file(codec, small, quality):
    """On the 256x192 crop, not the 128x128 one: at quality 10 the 128x128 crop's file is a few
    hundred bytes, and its gain swung from 1.8 % (cc-v30) to 0.5 % (session 39's candidate,
    weights/TRAINING.md) between nearly equal models; on 256x192 both gain 1.2-2.8 %."""
    plain = codec.compress(small, quality=quality)
    refined = codec.compress(small, quality=quality, effort=2)
    assert refined != plain
    assert aecodec.read_header(refined)[0] == aecodec.read_header(plain)[0]  # same model, quality
    assert rd_cost(refined, small, codec.model) < 0.995 * rd_cost(plain, small, codec.model)


def test_effort_one_only_adds_a_post_filter(codec, sample):
    """Effort 1 refines nothing: the plain file's streams, with a filter when one pays
    (at quality 90 on this crop it does; bench/README.md, `effort`)."""
    from aecodec import container
    img = sample.crop((200, 200, 400, 336))
    plain = container.decode_file(codec.compress(img, quality=90))
    filtered = container.decode_file(codec.compress(img, quality=90, effort=1))
    assert (filtered.z_stream, filtered.y_stream) == (plain.z_stream, plain.y_stream)
    assert filtered.header == plain.header and filtered.postfilter is not None
    assert [e.steps for e in efforts.EFFORTS] == sorted(e.steps for e in efforts.EFFORTS)
    assert [e.postfilter for e in efforts.EFFORTS] == [False] + [True] * (len(efforts.EFFORTS) - 1)


def test_effort_is_repeatable(codec, tiny):
    assert codec.compress(tiny, quality=40, effort=2) == codec.compress(tiny, quality=40, effort=2)


def test_surrogate_follows_the_integer_networks():
    """The float copies refinement differentiates are within rounding of the coder's."""
    lm = weights.load()
    net = refine.surrogate(lm, torch.device("cpu"))
    z = np.random.default_rng(1).integers(-3, 4, (lm.config.n, 3, 4))
    mean, log_scale = lm.h_s(z)
    with torch.no_grad():
        mu, sigma = net.h_s(torch.from_numpy(z).float()[None]).chunk(2, dim=1)
    assert np.abs(mu[0].numpy() - mean / 2**ACT_BITS).max() < 0.02
    assert np.abs(sigma[0].numpy() - log_scale / 2**ACT_BITS).max() < 0.02


def test_soft_rounding_anneals_to_rounding():
    v = torch.linspace(-3, 3, 1001)
    gen = torch.Generator().manual_seed(0)
    soft = refine.soft_round(v, 0.5, gen)
    assert torch.all((soft >= torch.floor(v)) & (soft <= torch.floor(v) + 1))
    cold = refine.soft_round(v, 1e-3, gen)
    away = (v - torch.floor(v) - 0.5).abs() > 0.05  # not a near tie
    assert torch.allclose(cold[away], torch.round(v[away]), atol=1e-3)


@pytest.mark.parametrize("effort", [1, 2])
def test_size_target_with_effort_fits(codec, tiny, monkeypatch, effort):
    """The budget holds; the plain searches between refined encodes never code one
    quality twice (they share their ends and often their first probes)."""
    budget = len(codec.compress(tiny, quality=50))
    plain = []
    encode = type(codec)._encode

    def counting(self, p, quality, effort=0):
        if not effort:
            plain.append(quality)
        return encode(self, p, quality, effort)
    monkeypatch.setattr(type(codec), "_encode", counting)
    data = codec.compress(tiny, size=budget, effort=effort)
    assert len(data) <= budget
    assert len(plain) == len(set(plain)) > 0


@pytest.mark.parametrize("effort", [-1, 5, 1.5, True, "2", None])
def test_bad_effort(codec, tiny, effort):
    with pytest.raises(aecodec.InputError, match="effort"):
        codec.compress(tiny, effort=effort)


def test_cli_effort(run, tiny, tmp_path):
    src, dst = tmp_path / "in.png", tmp_path / "out.aec"
    tiny.save(src)
    assert run("compress", src, dst, "-q", 30, "--effort", 1).exit_code == 0
    assert dst.read_bytes() == aecodec.Codec().compress(tiny, quality=30, effort=1)
    from aecodec.cli import main
    for command in (main.commands["compress"], main.commands["compare"]):
        option = next(p for p in command.params if p.name == "effort")
        assert option.type.max == len(efforts.EFFORTS) - 1  # the CLI offers every effort there is
    bad = run("compress", src, tmp_path / "bad.aec", "--effort", 7)
    assert bad.exit_code == 2 and "--effort" in bad.output
    assert not (tmp_path / "bad.aec").exists()


def test_pillow_save_takes_effort(tiny, tmp_path):
    aecodec.register_pillow()
    tiny.save(tmp_path / "x.aec", quality=30, effort=1)
    assert (tmp_path / "x.aec").read_bytes() == aecodec.compress(tiny, quality=30, effort=1)


def test_blocks_and_tiles(tiny, monkeypatch):
    """An image larger than a refinement block, coded in tiles: every block is refined on
    its own and the latents land where the tiles read them."""
    monkeypatch.setattr(refine, "BLOCK", 64)
    codec = aecodec.Codec(tile_size=64)
    plain = codec.compress(tiny, quality=40)
    refined = codec.compress(tiny, quality=40, effort=2)
    assert aecodec.read_header(refined)[0].tile_width == 64
    assert rd_cost(refined, tiny, codec.model) < 0.995 * rd_cost(plain, tiny, codec.model)


@pytest.mark.parametrize("size,tile", [((768, 512), 0), ((2048, 1536), 1024), ((1000, 700), 0),
                                       ((3000, 1100), 1024), ((130, 70), 64)])
def test_blocks_cover_the_image_once_inside_tiles(size, tile):
    from aecodec import tiling
    pw, ph = tiling.padded_size(*size)
    cover = np.zeros((ph, pw), dtype=int)
    tiles = tiling.tile_grid(*size, tile, tile)
    for b in refine.blocks(*size, tile):
        assert b.width <= refine.BLOCK and b.height <= refine.BLOCK
        assert all(v % tiling.ALIGN == 0 for v in (b.x0, b.y0, b.x1, b.y1))  # z lines up
        assert sum(b.intersection(t) == b for t in tiles) == 1  # inside exactly one tile
        cover[b.y0:b.y1, b.x0:b.x1] += 1
    assert (cover == 1).all()


def test_cluster_checks_effort_before_any_work(tmp_path):
    from aecodec.cluster import compress_paths
    with pytest.raises(aecodec.InputError, match="effort"):
        compress_paths([tmp_path / "a.png"], tmp_path, client=None, effort=9)


def test_adam_steps_as_torch_optim_adam():
    torch.manual_seed(5)
    ours = [torch.randn(3, 4, 5), torch.randn(7)]
    theirs = [p.clone().requires_grad_(True) for p in ours]
    ours = [p.requires_grad_(True) for p in ours]
    mine, reference = refine.Adam(ours, lr=0.3), torch.optim.Adam(theirs, lr=0.3)
    for _ in range(6):
        for params, opt in ((ours, mine), (theirs, reference)):
            opt.zero_grad()
            sum((p.sin() * p).sum() for p in params).backward()
            opt.step()
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
