"""Image <-> .aec bytes: padding, the coding pipeline and the container.

Encoder:  x -> g_a -> y*gain -> h_a -> z -> round -> [z stream]
          z_hat -> exact h_s -> (mean, scale index) -> round(y - mean) -> [y stream]
Decoder:  [z stream] -> z_hat -> exact h_s -> [y stream] -> y_hat = symbols + mean
          -> y_hat * inverse gain -> g_s -> crop -> 8-bit pixels

Everything between the streams and the symbols is integer or exact (aecodec.exact), so the
symbols decode identically everywhere; only g_s, after them, is ordinary float arithmetic.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from . import container, entropy, weights
from .container import DEFAULT_MAX_DIMENSION, DEFAULT_MAX_PIXELS, Header
from .errors import AecError, DecodeError, FormatError, InputError, LimitError, TruncatedFileError
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


# --------------------------------------------------------------------------- stream size bounds
# A stream's length is checked against the symbol count the header implies before anything is
# decoded (docs/ROBUSTNESS.md derives both bounds). Upper: a table symbol costs at most 16.006
# bits (smallest frequency 1/2**16, rescaled by constriction to 24-bit precision where it stays
# >= 255/2**24), an escape adds 16 bits (uniform over 2**16 values), the range coder's
# truncation at most -log2(1 - 2**-8) = 0.0057 bits per coded value, and the flush 2 words:
# at most 32 + 1/16 bits per symbol plus 3 words. Lower: the coder emits a 32-bit word each time
# its 64-bit range has shrunk by 2**32, so a stream carries at least I/32 - 1 words, where I is
# the information of its symbols, at least -log2(largest probability of the row) each.


def max_stream_bytes(n_symbols: int) -> int:
    """The longest stream the encoder can produce for `n_symbols` symbols."""
    return 4 * (n_symbols + n_symbols // 512 + 3)


def min_bits_per_row(tables: entropy.TableSet) -> np.ndarray:
    """The fewest bits any symbol coded with each row can cost (its most probable entry)."""
    fmax = np.maximum.reduceat(tables.freqs.astype(np.int64), tables._starts[:-1].astype(np.int64))
    # constriction's rescaling to 24-bit precision can raise a probability by at most 2**-23
    p = np.minimum(1.0, fmax / 2.0**entropy.FREQ_BITS + 2.0**-23)
    return -np.log2(p)


def min_stream_bytes(bits: float) -> int:
    """The shortest stream that can carry `bits` bits of information, less a margin of 1/64
    and one word (against differences in how constriction versions round probabilities)."""
    return 4 * max(0, math.floor(bits * (1 - 1 / 64) / 32) - 2)


def _check_stream(chunk: str, data: bytes, n_symbols: int, min_bits: float, header: Header) -> None:
    lo, hi = min_stream_bytes(min_bits), max_stream_bytes(n_symbols)
    if not lo <= len(data) <= hi:
        raise DecodeError(
            f"{chunk} stream has {len(data)} bytes, but the {n_symbols} symbols of a "
            f"{header.width}x{header.height} image need between {lo} and {hi}: the header "
            "and the stream do not belong together (corrupt or crafted file)")


def _decode_stream(chunk: str, data: bytes, rows: np.ndarray, tables: entropy.TableSet) -> np.ndarray:
    try:
        return entropy.decode(data, rows, tables)
    except AecError:
        raise
    except BaseException as exc:  # a Rust panic surfaces as pyo3's PanicException(BaseException)
        if type(exc).__name__ != "PanicException":
            raise
        raise DecodeError(f"{chunk} stream is corrupt (the range decoder failed: {exc})") from None


@dataclass
class _Prepared:
    mode: str
    width: int
    height: int
    features: torch.Tensor  # g_a output before the gain
    alpha_chunk: bytes | None


class Codec:
    """Loads weights once; reuse one instance for many images."""

    def __init__(self, model_id: str | None = None, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 max_dimension: int | None = DEFAULT_MAX_DIMENSION):
        self.model = weights.load(model_id)
        self.max_pixels = max_pixels
        self.max_dimension = max_dimension

    # -- encoding ------------------------------------------------------------------------------
    @torch.no_grad()
    def compress(self, image, quality: float = DEFAULT_QUALITY, *, bpp: float | None = None,
                 size: int | None = None) -> bytes:
        """Encode a PIL image, numpy uint8 array or path into the bytes of a .aec file.

        With `size` (bytes) or `bpp` (bits per pixel of the whole file) the quality is chosen
        by bisection instead (file size grows monotonically with quality): `size` gives the
        largest file that fits, `bpp` the file closest to the target. `quality` is then ignored.
        """
        prepared = self._prepare(image)
        if size is None and bpp is None:
            return self._encode(prepared, quality)
        if size is not None and bpp is not None:
            raise InputError("give at most one of size and bpp")
        target = size if size is not None else bpp * prepared.width * prepared.height / 8
        if not target > 0:
            raise InputError(f"the size or bpp target must be positive, got {size or bpp}")
        return self._fit(prepared, float(target), closest=bpp is not None)

    def _prepare(self, image) -> "_Prepared":
        """Everything that does not depend on quality: planes, padding and g_a, done once."""
        img = self.open_image(image)
        container.check_size(img.width, img.height, self.max_pixels, self.max_dimension)
        mode, rgb, alpha = split_planes(img)
        h, w = rgb.shape[:2]
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float().div_(255)
        pw, ph = _padded(w, h)
        x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        alpha_chunk = None if alpha is None else container.pack_alpha(alpha.tobytes(), w, h)
        return _Prepared(mode, w, h, self.model.net.g_a(x), alpha_chunk)

    def _encode(self, p: "_Prepared", quality: float) -> bytes:
        lm = self.model
        level = quality_to_level(quality, lm.config.levels)
        header = Header(width=p.width, height=p.height, mode=p.mode,
                        quality=round(float(quality) * 100) / 100, model_id=lm.model_id,
                        weights_hash=lm.hash8, coder=entropy.CODER_ID)
        gain, _ = lm.net.gains(torch.tensor([level]))
        y = p.features * gain
        z = lm.net.h_a(y)[0].numpy()
        z_sym = np.clip(np.rint(z), entropy.VALUE_MIN, entropy.VALUE_MAX).astype(np.int64)
        mean, rows = _hyper_decode(lm, z_sym)
        y_sym = np.rint(y[0].double().numpy() - mean / 2**ACT_BITS).astype(np.int64)
        z_bytes = entropy.encode(z_sym, _z_rows(lm, z_sym.shape), lm.z_tables)
        y_bytes = entropy.encode(y_sym, rows, lm.y_tables)
        return container.encode_file(header, z_bytes, y_bytes, p.alpha_chunk)

    def _fit(self, p: "_Prepared", target: float, closest: bool) -> bytes:
        """Bisection over quality in hundredths (the header's resolution)."""
        lo, hi = 0, 10000
        lo_data = self._encode(p, 0.0)
        if len(lo_data) >= target:
            return lo_data  # nothing smaller exists
        hi_data = self._encode(p, 100.0)
        if len(hi_data) <= target:
            return hi_data
        while hi - lo > 1:
            mid = (lo + hi) // 2
            data = self._encode(p, mid / 100)
            if len(data) <= target:
                lo, lo_data = mid, data
            else:
                hi, hi_data = mid, data
        if closest and len(hi_data) - target < target - len(lo_data):
            return hi_data
        return lo_data

    # -- decoding ------------------------------------------------------------------------------
    def open_image(self, image) -> Image.Image:
        """The encoder's input as a PIL image; for a path, the size limits are checked from the
        file's header before its pixels are decoded."""
        if isinstance(image, (str, os.PathLike)):
            return load_image(image, max_pixels=self.max_pixels, max_dimension=self.max_dimension)
        return open_image(image)

    def _parse(self, data) -> container.AecFile:
        data = _read_bytes(data, self._max_file_bytes)
        return container.decode_file(data, max_pixels=self.max_pixels,
                                     max_dimension=self.max_dimension)

    def _max_file_bytes(self, prefix: bytes) -> int | None:
        """Called with the first bytes of a file: the largest size its header can justify."""
        try:
            header, _ = container.read_header(prefix, max_pixels=self.max_pixels,
                                              max_dimension=self.max_dimension)
        except TruncatedFileError:
            if len(prefix) < _PREFIX_BYTES:
                raise  # the whole file is shorter than its header
            return None  # a HEAD longer than the prefix (a future minor version): no cap
        lm = weights.find(header.model_id, header.weights_hash)
        pw, ph = _padded(header.width, header.height)
        positions = (pw // STRIDE) * (ph // STRIDE)
        streams = max_stream_bytes(lm.config.n * positions) + max_stream_bytes(lm.config.m * positions * 16)
        return streams + 2 * header.width * header.height + _SLACK_BYTES

    def decode_symbols(self, data) -> tuple[container.AecFile, weights.LoadedModel, Symbols]:
        f = self._parse(data)
        hd = f.header
        lm = weights.find(hd.model_id, hd.weights_hash)
        pw, ph = _padded(hd.width, hd.height)
        z_shape = (lm.config.n, ph // STRIDE, pw // STRIDE)
        z_bits, y_bits = min_bits_per_row(lm.z_tables), min_bits_per_row(lm.y_tables)
        n_z, n_y = math.prod(z_shape), lm.config.m * (ph // 16) * (pw // 16)
        # Both streams are checked before any decoding work proportional to the declared size.
        _check_stream("ZSTR", f.z_stream, n_z, float(z_bits[: lm.config.n].sum()) * (n_z // lm.config.n), hd)
        _check_stream("YSTR", f.y_stream, n_y, float(y_bits.min()) * n_y, hd)
        z = _decode_stream("ZSTR", f.z_stream, _z_rows(lm, z_shape), lm.z_tables).reshape(z_shape)
        mean, rows = _hyper_decode(lm, z)
        # now that every y symbol's table is known, the lower bound can be exact
        counts = np.bincount(rows.ravel(), minlength=lm.y_tables.rows)
        _check_stream("YSTR", f.y_stream, n_y, float(counts @ y_bits), hd)
        y = _decode_stream("YSTR", f.y_stream, rows.ravel(), lm.y_tables).reshape(mean.shape)
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


_PREFIX_BYTES = 4096  # read first, to reject a non-.aec file (or /dev/zero) at once
_SLACK_BYTES = 64 << 20  # room for optional chunks in the largest file a header can justify


def _read_bytes(data, max_bytes=None) -> bytes:
    """The bytes of `data` (bytes or a path). For a path, the signature is checked on the first
    bytes, and `max_bytes(prefix)` (if given) caps how much is read: a file is never read
    further than its header can justify (a huge or endless file costs nothing)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, (str, os.PathLike)):
        raise InputError(f"expected bytes or a path to a .aec file, got {type(data).__name__}")
    path = Path(data)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a .aec file")
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(_PREFIX_BYTES)
            container.check_preamble(prefix)
            cap = max_bytes(prefix) if max_bytes else None
            rest = fh.read() if cap is None else fh.read(max(cap + 1 - len(prefix), 0))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if cap is not None and len(prefix) + len(rest) > cap:
        raise FormatError(f"{path} is larger than its header can justify (more than {cap} bytes)")
    return prefix + rest


def load_image(path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               max_dimension: int | None = DEFAULT_MAX_DIMENSION) -> Image.Image:
    """Open an image file for encoding. The size limits are checked from the file's header
    before any pixel is decoded; anything Pillow cannot decode becomes an InputError, and
    Pillow's own decompression-bomb refusal a LimitError."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an image")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path} is empty, not an image")
    try:
        with warnings.catch_warnings():
            # Pillow warns above its MAX_IMAGE_PIXELS: our own limits decide, or were lifted
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                container.check_size(im.width, im.height, max_pixels, max_dimension)
                im.load()
                return im
    except AecError:
        raise
    except Image.DecompressionBombError as exc:
        raise LimitError(f"{path}: {exc} (Pillow's own limit, PIL.Image.MAX_IMAGE_PIXELS; "
                         "the command line's --no-limits lifts it too)") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read") from None
    except MemoryError:
        raise LimitError(f"{path}: not enough memory to decode this image") from None
    except Exception as exc:  # Pillow decoding hostile data: OSError, SyntaxError, EOFError, ...
        raise InputError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
