"""Image <-> .aec bytes: padding, the coding pipeline and the container.

Encoder:  x -> g_a -> y*gain -> h_a -> z -> round -> [z stream]
          z_hat -> exact h_s -> (mean, scale index) -> round(y - mean) -> [y stream]
          (with channel context, slice by slice: aecodec.y_coding)
Decoder:  [z stream] -> z_hat -> exact h_s -> [y stream] -> y_hat = symbols + mean
          -> y_hat * inverse gain -> g_s -> crop -> 8-bit pixels [-> post-filter]

Everything between the streams and the symbols is integer or exact (aecodec.exact), so the
symbols decode identically everywhere; only g_s, after them, is ordinary float arithmetic.
Large images are coded in independent tiles and transformed window by window (aecodec.tiling).
"""
from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from . import container, entropy, rate_search, refine, tiling, weights, wiener
from .efforts import DEFAULT_QUALITY, EFFORTS, check_effort
from .container import DEFAULT_MAX_DIMENSION, DEFAULT_MAX_PIXELS, Header
from .errors import FormatError, InputError, TargetWarning, TruncatedFileError
from .exact import ACT_BITS, scale_indexes
from .images import merge_planes, open_image, padded_window, split_planes
from .inputs import AecInput, ImageInput, MetadataPolicy, Region
from .metadata import collect, to_info
from .model import HyperpriorModel
from .nn import restoration
from .reading import PREFIX_BYTES, SLACK_BYTES, load_image, read_aec_bytes  # noqa: F401
from .streams import (check_stream, decode_stream, max_stream_bytes, min_bits_per_row,  # noqa: F401
                      min_stream_bytes, z_rows)
from .tiling import LATENT, Box
from .y_coding import decode_y, encode_y

STRIDE = tiling.ALIGN  # total downsampling of z; images are padded to a multiple of it
REFINED_TRIES = 3  # refined encodes a size or bpp target may take (aecodec.refine)
TARGET_SLACK = 0.03  # a bpp target missed by more, at quality 0 or 100, is warned about


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
    """The integer content of one tile: what the entropy coder sees."""

    z: np.ndarray  # (N, h/64, w/64)
    y: np.ndarray  # (M, h/16, w/16)
    y_mean: np.ndarray  # integer means, scale 2**-ACT_BITS
    y_rows: np.ndarray  # scale index of each y symbol


def resolve_device(device) -> torch.device:
    """'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N' or a torch.device."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {device!r}: use auto, cpu or cuda") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was asked for, but torch finds no CUDA GPU here "
                         "(use --device auto to fall back to the CPU)")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"unsupported device {device!r}: use auto, cpu or cuda")
    return dev


def parse_region(region, width: int, height: int) -> Box:
    """A region (x, y, w, h) in image pixels as a Box, checked against the image size."""
    try:
        x, y, w, h = (int(v) for v in region)
    except (TypeError, ValueError):
        raise InputError(f"a region is four integers x, y, width, height; got {region!r}") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise InputError(f"region x={x} y={y} w={w} h={h} is not inside the {width}x{height} image")
    return Box(x, y, x + w, y + h)


def _warn_if_missed(data: bytes, target: float, is_size: bool, pixels: int) -> None:
    """A TargetWarning when the search had to stop at an end of the quality range: a size
    that even quality 0 exceeds, or a bpp more than TARGET_SLACK beyond quality 0 or 100."""
    quality = container.read_header(data)[0].quality
    got = len(data)
    if is_size:
        if got > target:
            warnings.warn(f"no quality fits {target:.0f} bytes: the smallest file, at quality 0, "
                          f"has {got} bytes", TargetWarning, stacklevel=4)
    elif quality in (0.0, 100.0) and abs(got - target) > TARGET_SLACK * target:
        warnings.warn(f"{8 * target / pixels:g} bpp is out of this image's range: quality "
                      f"{quality:g} gives {8 * got / pixels:.4f} bpp", TargetWarning, stacklevel=4)


@dataclass
class _Prepared:
    mode: str
    width: int
    height: int
    rgb: np.ndarray | None  # (H, W, 3) uint8 for refinement to measure distortion against
    features: torch.Tensor  # g_a output before the gain, (M, ph/16, pw/16), on the CPU
    alpha_chunk: bytes | None
    metadata: dict[str, bytes]  # raw ICC profile / EXIF / XMP to store (aecodec.metadata)

    @property
    def pixels(self) -> np.ndarray:
        """The kept pixels, which refinement and the post-filter measure against."""
        if self.rgb is None:
            raise RuntimeError("the pixels were not kept: prepare with keep_pixels=True")
        return self.rgb


class Codec:
    """Loads weights once; reuse one instance for many images.

    `tile_size` (pixels, a multiple of 64) splits images larger than it into independently
    coded tiles, which bounds memory and makes region decoding cheap; None never tiles.
    `device` runs the transforms g_a, h_a, g_s on 'cpu', 'cuda' or 'auto'; whatever runs
    them, the entropy coder's numbers come from exact integer arithmetic on the CPU, so any
    file decodes to the same symbols everywhere.
    """

    def __init__(self, model_id: str | None = None, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 max_dimension: int | None = DEFAULT_MAX_DIMENSION,
                 tile_size: int | None = tiling.DEFAULT_TILE,
                 device: str | torch.device = "cpu") -> None:
        if tile_size and (tile_size % tiling.ALIGN or not 0 < tile_size <= 0xFFFF):
            raise InputError(f"tile_size must be a multiple of {tiling.ALIGN} below 65536, "
                             f"got {tile_size}")
        self.model = weights.load(model_id)
        self.max_pixels = max_pixels
        self.max_dimension = max_dimension
        self.tile_size = tile_size or 0
        self.device = resolve_device(device)
        self._nets: dict[str, HyperpriorModel] = {}

    def _net(self, lm: weights.LoadedModel) -> HyperpriorModel:
        """The float transforms on this codec's device (the cached CPU model is shared)."""
        if self.device.type == "cpu":
            return lm.net
        if lm.model_id not in self._nets:
            net = copy.deepcopy(lm.net)
            net.to(self.device)  # in place
            self._nets[lm.model_id] = net
        return self._nets[lm.model_id]

    # -- encoding ------------------------------------------------------------------------------
    @torch.no_grad()
    def compress(self, image: ImageInput, quality: float = DEFAULT_QUALITY, *,
                 bpp: float | None = None, size: int | None = None, effort: int = 0,
                 metadata: MetadataPolicy = "all") -> bytes:
        """Encode a PIL image, numpy uint8 array, path or binary file into the bytes of a .aec file.

        With `size` (bytes) or `bpp` (bits per pixel of the whole file) the quality is searched
        for instead (file size grows monotonically with quality; aecodec.rate_search): `size`
        gives the largest file that fits, `bpp` the file closest to the target. `quality` is
        then ignored.

        `effort` 1-4 spends encode time on this image (aecodec.efforts): 1 fits a
        post-filter to what the file decodes to (aecodec.postfilter; sent only where it pays
        for its bytes, in a format 1.2 file); 2-4 first refine the latents (what each costs:
        aecodec.efforts.COST). Smaller files at the same quality; the decoder is the same
        and applies the filter a file carries.

        `metadata` says what of a PIL image's (or image file's) metadata the file keeps: "all"
        (ICC profile, EXIF, XMP; the default), "color" (the ICC profile only) or "none"; or a
        mapping with Pillow's keys `icc_profile`, `exif`, `xmp` that gives the items instead.
        They count in `size` and `bpp` like every other byte of the file.
        """
        effort = check_effort(effort)
        prepared = self._prepare(image, keep_pixels=effort > 0, metadata=metadata)
        if size is not None and bpp is not None:
            raise InputError("give at most one of size and bpp")
        pixels = prepared.width * prepared.height
        if size is not None:
            target = float(size)
        elif bpp is not None:
            target = bpp * pixels / 8
        else:
            return self._encode(prepared, quality, effort)
        if not target > 0:
            raise InputError(f"the size or bpp target must be positive, got {size or bpp}")
        data = self._fit(prepared, target, bpp is not None, effort)
        _warn_if_missed(data, target, size is not None, pixels)
        return data

    def _prepare(self, image, keep_pixels: bool = False, metadata="all") -> "_Prepared":
        """Everything that does not depend on quality: planes, padding and g_a, done once.
        The pixels are kept only for refinement (a plain encode of a huge image frees them)."""
        img = self.open_image(image)
        container.check_size(img.width, img.height, self.max_pixels, self.max_dimension)
        mode, rgb, alpha = split_planes(img)
        items = collect(img.info, mode, metadata)
        h, w = rgb.shape[:2]
        del img  # the planes are all we need; free Pillow's copy of a large image
        alpha_chunk = None if alpha is None else container.pack_alpha(alpha.tobytes(), w, h)
        return _Prepared(mode, w, h, rgb if keep_pixels else None, self._analysis(rgb), alpha_chunk,
                         items)

    def _analysis(self, rgb: np.ndarray) -> torch.Tensor:
        """g_a window by window; each window's core latents land in one CPU tensor."""
        h, w = rgb.shape[:2]
        g_a = self._net(self.model).g_a
        pw, ph = tiling.padded_size(w, h)
        config = self.model.config
        features = torch.empty((config.m, ph // LATENT, pw // LATENT))
        for core, outer in tiling.windows(w, h, config.latent_blocks, config.encoder_blocks):
            x = torch.from_numpy(padded_window(rgb, outer)).permute(2, 0, 1)[None]
            y = g_a(x.to(self.device).float().div_(255))[0]
            c, o = core.scaled(LATENT), outer.scaled(LATENT)
            features[:, c.y0:c.y1, c.x0:c.x1] = y[:, c.y0 - o.y0:c.y1 - o.y0,
                                                  c.x0 - o.x0:c.x1 - o.x0].cpu()
        return features

    def _tile_size_for(self, width: int, height: int) -> int:
        return tiling.default_tile_size(width, height, self.tile_size) if self.tile_size else 0

    def _encode(self, p: "_Prepared", quality: float, effort: int = 0) -> bytes:
        lm = self.model
        net = self._net(lm)
        level = quality_to_level(quality, lm.config.levels)
        tile = self._tile_size_for(p.width, p.height)
        setting = EFFORTS[effort]
        refined = refine.refine(lm, p.pixels, p.features, level, setting.steps, setting.lr, tile,
                                self.device) if setting.steps else None
        header = Header(width=p.width, height=p.height, mode=p.mode,
                        quality=round(float(quality) * 100) / 100, model_id=lm.model_id,
                        weights_hash=lm.hash8, coder=entropy.CODER_ID,
                        tile_width=tile, tile_height=tile)
        gain, _ = lm.net.gains(torch.tensor([level]))
        z_parts, y_parts = [], []
        for box in tiling.tile_grid(p.width, p.height, tile, tile):
            b = box.scaled(LATENT)
            if refined is None:
                y = p.features[None, :, b.y0:b.y1, b.x0:b.x1] * gain
                z = net.h_a(y.to(self.device))[0].cpu().numpy()
            else:
                y, zb = refined[0][None, :, b.y0:b.y1, b.x0:b.x1], box.scaled(STRIDE)
                z = refined[1][:, zb.y0:zb.y1, zb.x0:zb.x1].numpy()
            z_sym = np.clip(np.rint(z), entropy.VALUE_MIN, entropy.VALUE_MAX).astype(np.int64)
            mean, log_scale = lm.h_s(z_sym)
            z_parts.append(entropy.encode(z_sym, z_rows(z_sym.shape), lm.z_tables))
            y_parts.append(encode_y(lm, y[0].double().numpy(), mean, log_scale)[0])
        lengths = [(len(z), len(y)) for z, y in zip(z_parts, y_parts)]
        z_stream, y_stream = b"".join(z_parts), b"".join(y_parts)

        def encode_file(post=None) -> bytes:
            return container.encode_file(header, z_stream, y_stream, p.alpha_chunk,
                                         tile_lengths=lengths if tile else None,
                                         metadata=p.metadata, post=post)
        data = encode_file()
        if setting.postfilter:
            post = self._choose_postfilter(p, data, level)
            if post is not None:
                data = encode_file(post)
        return data

    def _choose_postfilter(self, p: "_Prepared", data: bytes, level: float):
        """The post-filter for this file (aecodec.postfilter, fitted by aecodec.wiener) to
        what the decoder will synthesize from it, or None when none pays for its bytes."""
        f = container.decode_file(data, max_pixels=None, max_dimension=None)
        decoded = self._synthesize(f, self.model, Box(0, 0, p.width, p.height))
        lam = float(self.model.net.lambdas(torch.tensor([level]))[0])
        return wiener.choose(p.pixels, decoded, lam)

    def _fit(self, p: "_Prepared", target: float, closest: bool, effort: int) -> bytes:
        """The plain encoder's search, then at an effort above 0 a few corrections: refining
        (and a post-filter's bytes) change the size at a given quality, so the plain search is
        rerun for the target scaled by the plain/refined size ratio at the last quality tried,
        up to REFINED_TRIES refined encodes (never one per search step), stopping within 1 %
        of the target."""
        if not effort:  # one search, no quality coded twice: nothing worth keeping
            return rate_search.search(lambda q: self._encode(p, q), target, closest)[1]
        plain_files: dict[float, bytes] = {}

        def plain_at(quality: float) -> bytes:
            # the searches after refined encodes revisit the ends and often their first probes
            if quality not in plain_files:
                plain_files[quality] = self._encode(p, quality)
            return plain_files[quality]

        quality, plain = rate_search.search(plain_at, target, closest)
        refined: dict[float, bytes] = {}
        # a size must not be exceeded: aim half a percent under it, as the ratio drifts
        goal = target if closest else 0.995 * target
        for _ in range(REFINED_TRIES):
            refined[quality] = data = self._encode(p, quality, effort)
            if abs(len(data) - target) <= 0.01 * target and (closest or len(data) <= target):
                break
            quality, plain_there = rate_search.search(plain_at, goal * len(plain) / len(data),
                                                      closest)
            if quality in refined:
                break
            plain = plain_there
        if closest:
            return min(refined.values(), key=lambda d: abs(len(d) - target))
        fits = [d for d in refined.values() if len(d) <= target]
        # none fits: the smallest file there is (the plain one fits unless nothing smaller exists)
        return max(fits, key=len) if fits else min([plain, *refined.values()], key=len)

    # -- decoding ------------------------------------------------------------------------------
    def open_image(self, image: ImageInput) -> Image.Image:
        """The encoder's input as a PIL image; for a path or a binary file object, the size
        limits are checked from the file's header before its pixels are decoded."""
        if isinstance(image, (str, os.PathLike)) or hasattr(image, "read"):
            return load_image(image, max_pixels=self.max_pixels, max_dimension=self.max_dimension)
        return open_image(image)  # a PIL image is the frame the caller chose

    def _parse(self, data) -> container.AecFile:
        data = read_aec_bytes(data, self._max_file_bytes)
        return container.decode_file(data, max_pixels=self.max_pixels,
                                     max_dimension=self.max_dimension)

    def _max_file_bytes(self, prefix: bytes) -> int | None:
        """Called with the first bytes of a file: the largest size its header can justify."""
        try:
            header, _ = container.read_header(prefix, max_pixels=self.max_pixels,
                                              max_dimension=self.max_dimension)
        except TruncatedFileError:
            if len(prefix) < PREFIX_BYTES:
                raise  # the whole file is shorter than its header
            return None  # a HEAD longer than the prefix (a future minor version): no cap
        lm = weights.find(header.model_id, header.weights_hash)
        streams = 0
        for box in tiling.tile_grid(header.width, header.height, header.tile_width, header.tile_height):
            positions = (box.width // STRIDE) * (box.height // STRIDE)
            streams += (max_stream_bytes(lm.config.n * positions)
                        + max_stream_bytes(lm.config.m * positions * 16) + 8)  # + TIDX entry
        return streams + 2 * header.width * header.height + SLACK_BYTES

    def _check_tiles(self, f: container.AecFile, lm: weights.LoadedModel) -> None:
        """Every tile's stream lengths against its symbol count, before any decoding work."""
        hd = f.header
        z_bits, y_bits = min_bits_per_row(lm.z_tables), min_bits_per_row(lm.y_tables)
        size = f"a {hd.width}x{hd.height} image"
        for i, (box, (zs, ys)) in enumerate(zip(f.tiles, f.tile_streams())):
            positions = (box.width // STRIDE) * (box.height // STRIDE)
            n_z, n_y = lm.config.n * positions, lm.config.m * positions * 16
            where = f" of tile {i}" if f.tile_lengths else ""
            check_stream("ZSTR" + where, zs, n_z, float(z_bits[: lm.config.n].sum()) * positions, size)
            check_stream("YSTR" + where, ys, n_y, float(y_bits.min()) * n_y, size)

    def _decode_tile(self, f, lm, index: int, box: Box, streams: tuple[bytes, bytes]) -> Symbols:
        zs, ys = streams
        where = f" of tile {index}" if f.tile_lengths else ""
        b = box.scaled(STRIDE)
        z_shape = (lm.config.n, b.height, b.width)
        z = decode_stream("ZSTR" + where, zs, z_rows(z_shape), lm.z_tables).reshape(z_shape)
        mean, log_scale = lm.h_s(z)
        if lm.context is None:
            # every y symbol's table is known before reading: the lower bound can be exact
            self._check_y_stream(f, lm, where, ys, scale_indexes(log_scale, lm.thresholds))
        y, y_mean, y_rows = decode_y(lm, "YSTR" + where, ys, mean, log_scale)
        if lm.context is not None:
            # the tables of a slice are known only once the slices before it are decoded:
            # the same bound, checked after the fact (a range decoder reads past the end of
            # a short stream without complaint)
            self._check_y_stream(f, lm, where, ys, y_rows)
        return Symbols(z, y, y_mean, y_rows)

    @staticmethod
    def _check_y_stream(f, lm, where: str, ys: bytes, rows: np.ndarray) -> None:
        counts = np.bincount(rows.ravel(), minlength=lm.y_tables.rows)
        check_stream("YSTR" + where, ys, rows.size, float(counts @ min_bits_per_row(lm.y_tables)),
                     f"a {f.header.width}x{f.header.height} image")

    def decode_symbols(self, data: AecInput
                       ) -> tuple[container.AecFile, weights.LoadedModel, list[Symbols]]:
        """The file, its model and the symbols of every tile in raster order (one tile when
        the file is untiled)."""
        f = self._parse(data)
        lm = weights.find(f.header.model_id, f.header.weights_hash)
        self._check_tiles(f, lm)
        return f, lm, [self._decode_tile(f, lm, i, box, st)
                       for i, (box, st) in enumerate(zip(f.tiles, f.tile_streams()))]

    @torch.no_grad()
    def decompress(self, data: AecInput, *, region: Region | None = None) -> Image.Image:
        """Decode .aec bytes (or a path to, or binary file of, a .aec file) into a PIL image of
        the original mode.

        `region=(x, y, width, height)` decodes only that rectangle: only the tiles it needs are
        entropy-decoded and only the windows it touches are synthesized, and the result equals
        the same crop of a full decode exactly.

        The image's `info` holds the file's metadata under Pillow's names (`icc_profile`,
        `exif`, `xmp`), so `image.save(path, icc_profile=image.info.get("icc_profile"), ...)`
        writes it back out; the command line does that for every format that can hold it.
        """
        f = self._parse(data)
        hd = f.header
        lm = weights.find(hd.model_id, hd.weights_hash)
        self._check_tiles(f, lm)
        want = parse_region(region, hd.width, hd.height) if region is not None \
            else Box(0, 0, hd.width, hd.height)
        post = f.postfilter
        if post is None:
            rgb = self._synthesize(f, lm, want)
        else:
            # the filter reads `margin` pixels around each output: synthesize them too, and
            # replicate edges only at the image's own borders, as for the whole image
            m = post.margin
            ext = Box(max(0, want.x0 - m), max(0, want.y0 - m),
                      min(hd.width, want.x1 + m), min(hd.height, want.y1 + m))
            pad = ((m - (want.y0 - ext.y0), m - (ext.y1 - want.y1)),
                   (m - (want.x0 - ext.x0), m - (ext.x1 - want.x1)), (0, 0))
            rgb = wiener.apply(post, np.pad(self._synthesize(f, lm, ext), pad, mode="edge"))
        alpha = None
        if hd.mode in container.ALPHA_MODES:
            if f.alpha is None:
                raise FormatError(f"{hd.mode} file has no ALPH chunk")
            raw = container.unpack_alpha(f.alpha, hd.width, hd.height)
            alpha = np.frombuffer(raw, dtype=np.uint8).reshape(hd.height, hd.width)
            alpha = alpha[want.y0:want.y1, want.x0:want.x1]
        image = merge_planes(hd.mode, rgb, alpha)
        image.info.update(to_info(f.metadata))
        return image

    def _synthesize(self, f, lm, want: Box) -> np.ndarray:
        """The 8-bit RGB pixels of `want` as g_s (and the restoration network) make them,
        window by window."""
        hd = f.header
        config = lm.config
        reach = restoration.radius(config.restoration_hidden, *config.restoration_scales)
        wins = [(c, o) for c, o in tiling.windows(
                    hd.width, hd.height, config.latent_blocks, decoder_blocks=config.decoder_blocks,
                    restoration_radius=reach)
                if c.intersection(want)]
        y_hat, origin = self._latents(f, lm, [o.scaled(LATENT) for _, o in wins])
        level = quality_to_level(hd.quality, config.levels)
        t = torch.tensor([level])
        _, inv_gain = lm.net.gains(t)
        inv_gain, t = inv_gain.to(self.device), t.to(self.device)
        net = self._net(lm)
        rgb = np.empty((want.height, want.width, 3), dtype=np.uint8)
        for core, outer in wins:
            lat = outer.scaled(LATENT).shifted(-origin.x0, -origin.y0)
            window = y_hat[None, :, lat.y0:lat.y1, lat.x0:lat.x1].to(self.device)
            x_hat, at = net.g_s(window * inv_gain), outer
            part = core.intersection(want)
            assert part is not None  # wins holds only the windows that meet want
            if net.restoration is not None:
                # on the part kept and its reach only, not on the whole margin g_s needed:
                # 0.59x the work on a window of a large image, the same pixels
                at = tiling.restoration_box(part, outer, reach, net.restoration.grid)
                x_hat = net.restoration(x_hat[..., at.y0 - outer.y0:at.y1 - outer.y0,
                                              at.x0 - outer.x0:at.x1 - outer.x0], t)
            x_hat = x_hat[0, :, part.y0 - at.y0:part.y1 - at.y0, part.x0 - at.x0:part.x1 - at.x0]
            rgb[part.y0 - want.y0:part.y1 - want.y0, part.x0 - want.x0:part.x1 - want.x0] = \
                x_hat.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return rgb

    def _latents(self, f, lm, boxes: list[Box]) -> tuple[torch.Tensor, Box]:
        """y_hat over the bounding box of `boxes` (latent units), decoding only the tiles that
        overlap it; returns the tensor and the box it covers."""
        bound = Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes),
                    max(b.x1 for b in boxes), max(b.y1 for b in boxes))
        y_hat = torch.zeros((lm.config.m, bound.height, bound.width))
        for i, (box, streams) in enumerate(zip(f.tiles, f.tile_streams())):
            tile = box.scaled(LATENT)
            part = tile.intersection(bound)
            if part is None:
                continue
            values = self._tile_latents(lm, self._decode_tile(f, lm, i, box, streams))
            y_hat[:, part.y0 - bound.y0:part.y1 - bound.y0, part.x0 - bound.x0:part.x1 - bound.x0] = \
                values[:, part.y0 - tile.y0:part.y1 - tile.y0, part.x0 - tile.x0:part.x1 - tile.x0]
        return y_hat, bound

    @staticmethod
    def _tile_latents(lm, s: Symbols) -> torch.Tensor:
        """y_hat of one tile: symbols around their means, plus the model's residual prediction
        if it has one. Tile by tile, so a region decode sees exactly the values of a full one."""
        mean = s.y_mean / 2**ACT_BITS
        y_hat = torch.from_numpy(s.y + mean).float()
        return lm.net.reconstruct(y_hat[None], torch.from_numpy(mean).float()[None])[0]
