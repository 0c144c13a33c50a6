import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# Tests share the machine with nothing else in CI; one thread keeps timings steady and
# exercises the single-thread path (the thread-count test runs its own subprocesses).
torch.set_num_threads(int(os.environ.get("AECODEC_TEST_THREADS", "1")))

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "aecodec" / "samples" / "kodim23.png"
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="session")
def codec():
    import aecodec
    return aecodec.Codec()


@pytest.fixture(scope="session")
def sample() -> Image.Image:
    return Image.open(SAMPLE).convert("RGB")


@pytest.fixture(scope="session")
def small(sample) -> Image.Image:
    """A 256x192 crop of the sample: fast, still a natural image."""
    return sample.crop((300, 100, 556, 292))


@pytest.fixture()
def run():
    """The `aecodec` command in-process (click's runner): run("compress", src, dst, "-q", 40)."""
    from click.testing import CliRunner

    from aecodec.cli import main
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def psnr(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def training_images(folder: Path, count: int = 3) -> Path:
    """A few smooth 96x80 pictures: enough for the training path's tests to run on."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        smooth = np.kron(rng.integers(0, 256, (10, 12, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        Image.fromarray(smooth).save(folder / f"img{i}.png")
    return folder
