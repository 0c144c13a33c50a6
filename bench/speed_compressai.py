"""Speed of CompressAI's models of the same size (N=128, M=192), same process, same images.

Random weights: the time of a forward transform does not depend on the weight values, and the
entropy-coding time depends on them only through the number of symbols coded, which is the same
shape here. Bitstream sizes from random weights mean nothing, so only times are kept.
Optional: without the `compressai` package this returns a note instead.

Installed with `pip install --no-deps compressai einops` (bench/README.md says why): PyPI's
compressai depends on torchvision and torch-geometric, which only its data pipeline uses, and
pip would replace the CPU torch to satisfy torchvision. `import_models` imports the model
classes without that data pipeline.
"""

from __future__ import annotations

import statistics
import sys
import time
import types

import numpy as np

MODELS = {"bmshj2018-hyperprior": "ScaleHyperprior", "mbt2018-mean": "MeanScaleHyperprior"}

# Submodules of compressai that `import compressai` loads but the models never use; their imports
# need torchvision (registry.transforms), torch_geometric (transforms, datasets), pandas and tqdm
# (datasets). Placeholders stand in for them unless they import for real.
_DATA_PIPELINE = ("compressai.datasets", "compressai.transforms", "compressai.registry.transforms")


def import_models():
    """`compressai.models`, importing for real when all of compressai's dependencies are there,
    else with placeholders for its data-pipeline submodules. Returns (models module, how)."""
    try:
        from compressai import models
        return models, "full import"
    except ImportError:
        pass
    for name in list(sys.modules):  # drop what the failed attempt left half-imported
        if name == "compressai" or name.startswith("compressai."):
            del sys.modules[name]
    for name in _DATA_PIPELINE:
        sys.modules[name] = types.ModuleType(name, "placeholder: not needed to time models")
    reg = sys.modules["compressai.registry.transforms"]
    reg.TRANSFORMS, reg.register_transform = {}, lambda name: (lambda obj: obj)
    from compressai import models
    return models, "model classes only; its data pipeline, which needs torchvision, not imported"


def run(images: dict, log=print) -> dict:
    try:
        import torch

        cm, how = import_models()
    except Exception as e:
        note = f"compressai not available ({type(e).__name__}: {e}); CompressAI speed skipped"
        log(note)
        return {"note": note}

    import compressai

    out = {"note": ("CompressAI %s (%s), random weights, N=128 M=192, entropy coder %s, timed "
                    "on the same images in the same process; input padded to a multiple of 64 as "
                    "CompressAI requires; time is model.compress / model.decompress on tensors "
                    "(no PIL conversion)")
                   % (compressai.__version__, how, compressai.get_entropy_coder()), "models": {}}
    for name in MODELS:
        model = build(cm, name)
        enc, dec, mpx = [], [], []
        with torch.no_grad():
            for i, (_img, ref) in enumerate(images.values()):
                h, w = ref.shape[:2]
                x = padded_input(ref)
                if i == 0:  # untimed warm-up, as for the other codecs
                    model.decompress(**decompress_args(model.compress(x)))
                t0 = time.perf_counter()
                s = model.compress(x)
                t1 = time.perf_counter()
                model.decompress(**decompress_args(s))
                t2 = time.perf_counter()
                enc.append(t1 - t0), dec.append(t2 - t1), mpx.append(h * w / 1e6)
        r = {"encode_s": statistics.median(enc), "decode_s": statistics.median(dec),
             "encode_mpx_s": float(statistics.median(np.array(mpx) / enc)),
             "decode_mpx_s": float(statistics.median(np.array(mpx) / dec))}
        log(f"  compressai {name}: enc {r['encode_s']:.3f}s dec {r['decode_s']:.3f}s")
        out["models"][name] = r
    return out


def build(cm, name: str):
    """CompressAI's model `name` (a key of MODELS), N=128 M=192, random weights, ready to code."""
    import torch

    torch.manual_seed(0)
    model = getattr(cm, MODELS[name])(N=128, M=192).eval()
    model.update(force=True)  # build the CDF tables compress() needs
    return model


def padded_input(ref: np.ndarray):
    """An RGB uint8 array as CompressAI's input: (1, 3, H, W) in [0, 1], edge-padded to a
    multiple of 64 as its models require."""
    import torch
    import torch.nn.functional as F

    h, w = ref.shape[:2]
    x = torch.from_numpy(ref.copy()).permute(2, 0, 1)[None].float() / 255
    return F.pad(x, (0, -w % 64, 0, -h % 64), mode="replicate")


def decompress_args(s):
    """model.compress's output as model.decompress's keyword arguments."""
    return {"strings": s["strings"], "shape": s["shape"]}
