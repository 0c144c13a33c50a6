"""Regenerate the golden files after the shipped weights change:

    python tests/golden/make_golden.py

Writes <name>.aec, <name>.png (the reference decode) and golden.json (hashes of the decoded
latent symbols). Commit them together with the weights that made them.
"""
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

import aecodec

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "aecodec" / "samples" / "kodim23.png"
CASES = {  # name: (crop box, mode, quality)
    "rgb-q30": ((320, 96, 448, 192), "RGB", 30.0),
    "rgb-q85-odd": ((100, 300, 211, 377), "RGB", 85.0),
    "gray-q60": ((500, 200, 533, 217), "L", 60.0),
    "rgba-q0": ((0, 0, 40, 24), "RGBA", 0.0),
}


def symbol_hash(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype="<i4").tobytes()).hexdigest()


def main() -> None:
    codec = aecodec.Codec()
    base = Image.open(SAMPLE)
    record = {}
    for name, (box, mode, quality) in CASES.items():
        img = base.crop(box).convert(mode)
        data = codec.compress(img, quality=quality)
        (HERE / f"{name}.aec").write_bytes(data)
        _, lm, (sym,) = codec.decode_symbols(data)  # small images: one tile
        codec.decompress(data).save(HERE / f"{name}.png")
        record[name] = {"model_id": lm.model_id, "z": symbol_hash(sym.z), "y": symbol_hash(sym.y),
                        "y_rows": symbol_hash(sym.y_rows), "y_mean": symbol_hash(sym.y_mean)}
    (HERE / "golden.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {len(record)} golden files to {HERE}")


if __name__ == "__main__":
    main()
