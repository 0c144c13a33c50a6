"""Image <-> .aec bytes: padding, the coding pipeline and the container.

Encoder:  x -> g_a -> y*gain -> h_a -> z -> round -> [z stream]
          z_hat -> exact h_s -> (mean, scale index) -> round(y - mean) -> [y stream]
Decoder:  [z stream] -> z_hat -> exact h_s -> [y stream] -> y_hat = symbols + mean
          -> y_hat * inverse gain -> g_s -> crop -> 8-bit pixels

Everything between the streams and the symbols is integer or exact (aecodec.exact), so the
symbols decode identically everywhere; only g_s, after them, is ordinary float arithmetic.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import container, entropy, weights
from .container import DEFAULT_MAX_DIMENSION, DEFAULT_MAX_PIXELS, Header
from .errors import FormatError, InputError
from .exact import ACT_BITS, scale_indexes
from .images import merge_planes, open_image, split_planes

DEFAULT_QUALITY = 50.0
STRIDE = 64  # total downsampling of z; images are padded to a multiple of it


def quality_to_level(quality: float, levels: int) -> float:
    """The documented quality scale: 0..100 maps linearly onto the trained levels 0..levels-1.

    Levels are spaced geometrically in lambda, so equal quality steps are roughly equal steps
    in log bit rate; bpp increases monotonically with quality.
    """
    q = float(quality)
    if not 0.0 <= q <= 100.0:
        raise InputError(f"quality must be between 0 and 100, got {quality}")
    return (levels - 1) * round(q * 100) / 10000


@dataclass
class Symbols:
    """The integer content of a file: what the entropy coder sees."""

    z: np.ndarray  # (N, h/64, w/64)
    y: np.ndarray  # (M, h/16, w/16)
    y_mean: np.ndarray  # integer means, scale 2**-ACT_BITS
    y_rows: np.ndarray  # scale index of each y symbol


def _padded(width: int, height: int) -> tuple[int, int]:
    return -(-width // STRIDE) * STRIDE, -(-height // STRIDE) * STRIDE


def _hyper_decode(lm: weights.LoadedModel, z: np.ndarray):
    mean, log_scale = lm.h_s(z)
    return mean, scale_indexes(log_scale, lm.thresholds)


def _z_rows(lm: weights.LoadedModel, shape) -> np.ndarray:
    return np.broadcast_to(np.arange(shape[0])[:, None, None], shape).ravel()


class Codec:
    """Loads weights once; reuse one instance for many images."""

    def __init__(self, model_id: str | None = None, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 max_dimension: int | None = DEFAULT_MAX_DIMENSION):
        self.model = weights.load(model_id)
        self.max_pixels = max_pixels
        self.max_dimension = max_dimension

    # -- encoding ------------------------------------------------------------------------------
    @torch.no_grad()
    def compress(self, image, quality: float = DEFAULT_QUALITY) -> bytes:
        """Encode a PIL image, numpy uint8 array or path into the bytes of a .aec file."""
        lm = self.model
        level = quality_to_level(quality, lm.config.levels)
        mode, rgb, alpha = split_planes(open_image(image))
        h, w = rgb.shape[:2]
        header = Header(width=w, height=h, mode=mode, quality=round(float(quality) * 100) / 100,
                        model_id=lm.model_id, weights_hash=lm.hash8, coder=entropy.CODER_ID)
        container.check_limits(header, self.max_pixels, self.max_dimension)
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float().div_(255)
        pw, ph = _padded(w, h)
        x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        gain, _ = lm.net.gains(torch.tensor([level]))
        y = lm.net.g_a(x) * gain
        z = lm.net.h_a(y)[0].numpy()
        z_sym = np.clip(np.rint(z), entropy.VALUE_MIN, entropy.VALUE_MAX).astype(np.int64)
        mean, rows = _hyper_decode(lm, z_sym)
        y_sym = np.rint(y[0].double().numpy() - mean / 2**ACT_BITS).astype(np.int64)
        z_bytes = entropy.encode(z_sym, _z_rows(lm, z_sym.shape), lm.z_tables)
        y_bytes = entropy.encode(y_sym, rows, lm.y_tables)
        alpha_chunk = None if alpha is None else container.pack_alpha(alpha.tobytes(), w, h)
        return container.encode_file(header, z_bytes, y_bytes, alpha_chunk)

    # -- decoding ------------------------------------------------------------------------------
    def _parse(self, data) -> container.AecFile:
        data = _read_bytes(data)
        return container.decode_file(data, max_pixels=self.max_pixels,
                                     max_dimension=self.max_dimension)

    def decode_symbols(self, data) -> tuple[container.AecFile, weights.LoadedModel, Symbols]:
        f = self._parse(data)
        lm = weights.find(f.header.model_id, f.header.weights_hash)
        pw, ph = _padded(f.header.width, f.header.height)
        z_shape = (lm.config.n, ph // STRIDE, pw // STRIDE)
        z = entropy.decode(f.z_stream, _z_rows(lm, z_shape), lm.z_tables).reshape(z_shape)
        mean, rows = _hyper_decode(lm, z)
        y = entropy.decode(f.y_stream, rows.ravel(), lm.y_tables).reshape(mean.shape)
        return f, lm, Symbols(z, y, mean, rows)

    @torch.no_grad()
    def decompress(self, data) -> Image.Image:
        """Decode .aec bytes (or a path to a .aec file) into a PIL image of the original mode."""
        f, lm, s = self.decode_symbols(data)
        hd = f.header
        level = quality_to_level(hd.quality, lm.config.levels)
        _, inv_gain = lm.net.gains(torch.tensor([level]))
        y_hat = torch.from_numpy(s.y + s.y_mean / 2**ACT_BITS)[None].float()
        x_hat = lm.net.g_s(y_hat * inv_gain)[0, :, :hd.height, :hd.width]
        rgb = x_hat.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        alpha = None
        if hd.mode in container.ALPHA_MODES:
            if f.alpha is None:
                raise FormatError(f"{hd.mode} file has no ALPH chunk")
            raw = container.unpack_alpha(f.alpha, hd.width, hd.height)
            alpha = np.frombuffer(raw, dtype=np.uint8).reshape(hd.height, hd.width)
        return merge_planes(hd.mode, rgb, alpha)


def _read_bytes(data) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.is_dir():
            raise InputError(f"{path} is a directory, not a .aec file")
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    raise InputError(f"expected bytes or a path to a .aec file, got {type(data).__name__}")
