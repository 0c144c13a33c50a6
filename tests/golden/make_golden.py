"""Write the golden files of a shipped model (after new weights are exported):

    python tests/golden/make_golden.py [MODEL_ID]      # default: the default model

Writes tests/golden/<MODEL_ID>/<case>.aec, <case>.png (the reference decode) and golden.json
(hashes of the decoded latent symbols). Every shipped model keeps its folder: files made by an
older model must keep decoding with the weights that made them. Commit the folder together
with the weights.
"""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import aecodec
from aecodec import container

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "aecodec" / "samples" / "kodim23.png"
CASES = {  # name: (crop box, mode, quality, tile size or None[, effort])
    "rgb-q30": ((320, 96, 448, 192), "RGB", 30.0, None),
    "rgb-q85-odd": ((100, 300, 211, 377), "RGB", 85.0, None),
    "gray-q60": ((500, 200, 533, 217), "L", 60.0, None),
    "rgba-q0": ((0, 0, 40, 24), "RGBA", 0.0, None),
    "rgb-q50-tiled": ((200, 200, 400, 330), "RGB", 50.0, 64),  # format 1.1, 4x3 tiles
    "rgb-q90-postfilter": ((200, 200, 400, 336), "RGB", 90.0, None, 1),  # format 1.2, PFLT
}
FIELDS = ("z", "y", "y_rows", "y_mean")


def symbol_hash(arrays) -> str:
    """SHA-256 of the symbols of every tile in order, as little-endian int32."""
    return hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype="<i4").tobytes()
                                   for a in arrays)).hexdigest()


def symbol_hashes(tiles) -> dict:
    return {k: symbol_hash(getattr(t, k) for t in tiles) for k in FIELDS}


def main(model_id: str | None = None) -> None:
    base = Image.open(SAMPLE)
    out = None
    record = {}
    for name, (box, mode, quality, tile, *effort) in CASES.items():
        codec = aecodec.Codec(model_id, tile_size=tile)
        out = HERE / codec.model.model_id
        out.mkdir(exist_ok=True)
        data = codec.compress(base.crop(box).convert(mode), quality=quality, effort=sum(effort))
        (out / f"{name}.aec").write_bytes(data)
        _, lm, tiles = codec.decode_symbols(data)
        codec.decompress(data).save(out / f"{name}.png")
        record[name] = {"model_id": lm.model_id, "tiles": len(tiles), **symbol_hashes(tiles)}
        if container.decode_file(data).postfilter is not None:
            record[name]["postfilter"] = True
    (out / "golden.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {len(record)} golden files to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
