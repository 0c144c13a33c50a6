"""Run here, from the repository root, before the first device call of a GPU session:

    python tools/device/prepare.py [--data ../shared/data/train] [--kodak ../shared/data/kodak]

The device machine gets a copy of the working tree and nothing else, within 64 MiB, and
cannot fetch packages. This puts beside the tree, in git-ignored folders that `carry` names:

- .whl/          constriction's wheel for the machine's Python (3.12): the codec imports it,
                 the machine has torch, numpy, Pillow and click but not it.
- carry/kodak/   the four Kodak images of the training loop's quick eval.
- carry/train/   as many training images as still fit (a fixed shuffle, so every session
                 carries the same subset), leaving MARGIN for the tree to grow.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import random
import shutil
import subprocess
import sys
from pathlib import Path

LIMIT = 64 * 2**20  # what may travel: tracked + untracked-not-ignored files + carried paths
MARGIN = 2 * 2**20
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]


def tree_bytes() -> int:
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, check=True).stdout.split(b"\0")
    return sum(Path(n.decode()).stat().st_size for n in names if n and Path(n.decode()).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/train")
    p.add_argument("--kodak", default="../shared/data/kodak")
    p.add_argument("--python-version", default="3.12", help="the device machine's Python")
    p.add_argument("--reserve-mib", type=float, default=0.0,
                   help="room to leave for other carried files, e.g. 16 for carry/weights "
                        "exported from the last leg's checkpoint when the machine went cold "
                        "(the training subset shrinks to what is left)")
    args = p.parse_args(argv)

    wheels = Path(".whl")
    shutil.rmtree(wheels, ignore_errors=True)
    version = importlib.metadata.version("constriction")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", args.python_version, "--implementation", "cp", "-d", str(wheels)]
    cmd += [a for plat in PLATFORMS for a in ("--platform", plat)]
    subprocess.run(cmd + [f"constriction=={version}"], check=True)

    carry = Path("carry")
    for sub in ("kodak", "train"):  # anything else under carry/ (carry/weights) stays
        shutil.rmtree(carry / sub, ignore_errors=True)
    (carry / "kodak").mkdir(parents=True)
    for src in sorted(Path(args.kodak).glob("*.png"))[:4]:  # quick_eval's four
        shutil.copy(src, carry / "kodak" / src.name)

    fixed = tree_bytes() + folder_bytes(wheels) + folder_bytes(carry)  # all but carry/train
    budget = LIMIT - MARGIN - args.reserve_mib * 2**20 - fixed
    photos = sorted(Path(args.data).glob("*.jpg"))
    random.Random(0).shuffle(photos)
    (carry / "train").mkdir()
    used = count = 0
    for src in photos:
        size = src.stat().st_size
        if used + size > budget:
            continue
        shutil.copy(src, carry / "train" / src.name)
        used, count = used + size, count + 1
    print(f"{wheels}: {', '.join(w.name for w in wheels.iterdir())}")
    print(f"carry/train: {count} of {len(photos)} images, {used / 2**20:.1f} MiB; "
          f"travelling in all: {(fixed + used) / 2**20:.1f} "
          f"of {LIMIT / 2**20:.0f} MiB (carry: [\".whl\", \"carry\"])")


if __name__ == "__main__":
    main()
