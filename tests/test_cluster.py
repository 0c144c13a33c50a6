"""aecodec.cluster on a LocalCluster of two worker processes: the same bytes as aecodec.compress,
one weights load per worker, a bad file reported among good ones, the CLI, the missing extra."""
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import aecodec
from aecodec import cluster
from aecodec.cli import main

QUALITY = 40


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as local, Client(local) as c:
        c.wait_for_workers(2)
        yield c


@pytest.fixture(scope="module")
def folder(small, tmp_path_factory):
    src = tmp_path_factory.mktemp("cluster") / "in"
    src.mkdir()
    for i, box in enumerate([(0, 0, 64, 48), (10, 10, 74, 58), (30, 5, 94, 53), (100, 60, 164, 108)]):
        small.crop(box).save(src / f"img{i}.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # a truncated PNG
    return src


def test_compress_decompress_on_two_workers(client, folder, tmp_path):
    images = sorted(folder.glob("img*.png"))
    inputs = [str(images[0]), images[1].as_uri(), *images[2:], folder / "broken.png",
              "s3://bucket/x.png"]
    out = tmp_path / "aec"
    seen = []
    results = cluster.compress_paths(inputs, out, client=client, quality=QUALITY, on_result=seen.append)

    assert [r.status for r in results] == ["ok"] * 4 + ["failed"] * 2  # in input order
    assert len(seen) == 6
    assert results[4].src == folder / "broken.png" and "not an image" in results[4].message
    assert "file:// URLs" in results[5].message
    assert sorted(p.name for p in out.iterdir()) == [f"img{i}.aec" for i in range(4)]
    for src, r in zip(images, results):
        assert r.dst == out / (src.stem + ".aec")
        assert r.dst.read_bytes() == aecodec.compress(src, quality=QUALITY)  # byte for byte
    t = cluster.totals(results)
    assert (t["files"], t["ok"], t["failed"], t["pixels"]) == (6, 4, 2, 4 * 64 * 48)
    assert t["bytes_out"] == sum(r.dst.stat().st_size for r in results[:4])
    assert cluster.summary(results).startswith("6 files: 4 ok, 2 failed, 0 skipped; ")

    # Both workers took files, and each read the weights once.
    stats = client.run(cluster.worker_stats)
    assert len(stats) == 2 and sum(s["files"] for s in stats.values()) == 5
    assert all(s["files"] > 0 for s in stats.values())
    assert all(s["weights_loads"] == 1 and list(s["codec_loads"].values()) == [1]
               for s in stats.values()), stats

    # Again: existing outputs are skipped; with force they are redone.
    again = cluster.compress_paths(images, out, client=client, quality=QUALITY)
    assert [r.status for r in again] == ["skipped"] * 4
    again = cluster.compress_paths(images[:2], out, client=client, quality=10, force=True, batch_size=2)
    assert [r.status for r in again] == ["ok"] * 2
    assert (out / "img0.aec").read_bytes() == aecodec.compress(images[0], quality=10)

    # The way back, still one weights load per worker (the default model and the file's model
    # share the cache entry).
    back = cluster.decompress_paths(sorted(out.glob("*.aec")), tmp_path / "back", client=client)
    assert [r.status for r in back] == ["ok"] * 4
    for r in back:
        assert r.dst.suffix == ".png" and not r.dst.name.startswith(".")
        expected = aecodec.decompress(r.src.read_bytes())
        assert np.array_equal(np.asarray(Image.open(r.dst)), np.asarray(expected))
    stats = client.run(cluster.worker_stats)
    assert sum(s["files"] for s in stats.values()) == 5 + 4 + 2 + 4
    assert all(s["weights_loads"] == 1 for s in stats.values()), stats
    assert not list((tmp_path / "back").glob(".*.part")) and not list(out.glob(".*.part"))


def test_cli_against_a_scheduler(client, folder, tmp_path):
    runner = CliRunner()
    address = client.scheduler.address
    out = tmp_path / "aec"
    r = runner.invoke(main, ["cluster", "compress", str(folder), "-o", str(out), "-q", "30",
                             "--scheduler", address], catch_exceptions=False)
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert sum(line.startswith("ok: ") for line in lines) == 4
    assert any(line.startswith("failed: ") and "broken.png" in line for line in lines)
    assert lines[-1].startswith("5 files: 4 ok, 1 failed, 0 skipped") and "Mpx/s" in lines[-1]

    listing = tmp_path / "list.txt"
    listing.write_text("".join(p.as_uri() + "\n" for p in sorted(out.glob("*.aec"))))
    r = runner.invoke(main, ["cluster", "decompress", "--files-from", str(listing),
                             "-o", (tmp_path / "back").as_uri(), "--format", "bmp"],
                      env={"DASK_SCHEDULER_ADDRESS": address}, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "4 files: 4 ok, 0 failed, 0 skipped" in r.output
    assert sorted(p.name for p in (tmp_path / "back").iterdir()) == [f"img{i}.bmp" for i in range(4)]


def test_cli_usage(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["cluster", "compress", "x.png", "-o", str(tmp_path)])
    assert r.exit_code == 2 and "--scheduler" in r.output
    r = runner.invoke(main, ["cluster", "compress", str(tmp_path / "none*.png"), "-o", str(tmp_path),
                             "--local", "1"])
    assert r.exit_code == 1 and "no input files" in r.output


def test_local_path(tmp_path):
    assert cluster.local_path("file:///data/a%20b.png") == cluster.Path("/data/a b.png")
    assert cluster.local_path("file://localhost/data/x.aec") == cluster.Path("/data/x.aec")
    assert cluster.local_path("rel/x.png").is_absolute()
    for bad in ("s3://bucket/x.png", "https://host/x.png", "file://otherhost/x.png"):
        with pytest.raises(aecodec.InputError):
            cluster.local_path(bad)


def test_missing_extra(monkeypatch, tmp_path, folder):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    with pytest.raises(cluster.MissingExtraError, match=r'pip install "aecodec\[dask\]"') as info:
        cluster.compress_paths([folder / "img0.png"], tmp_path, client=None)
    assert isinstance(info.value, aecodec.AecError) and isinstance(info.value, ImportError)
    r = CliRunner().invoke(main, ["cluster", "compress", str(folder), "-o", str(tmp_path / "o"),
                                  "--local", "2"])
    assert r.exit_code == 1 and 'aecodec[dask]' in r.output
