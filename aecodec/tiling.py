"""Tile geometry: the entropy-coding tiles stored in a file, and the processing windows the
transforms run on. Pure integer arithmetic, no torch (the container uses it too).

Two grids, both anchored at the top-left corner of the image padded to ALIGN pixels:

- **Entropy tiles** (in the file, docs/FORMAT.md): each tile has its own hyper-latent z and
  its own z and y streams, so a tile decodes without any other tile's symbols. This is what
  makes region decoding and bounded memory possible.
- **Processing windows** (an implementation choice, not in the file): g_a and g_s run on a
  window of the image or latent at a time, with a margin that covers their receptive field,
  so peak memory follows the window size, not the image size. Small images are one window.
"""
from __future__ import annotations

from dataclasses import dataclass

ALIGN = 64  # the model's total stride (z is 1/64 of the image); tiles are multiples of it
LATENT = 16  # y is 1/16 of the image
DEFAULT_TILE = 1024  # entropy tile side for images larger than this in either direction
WINDOW_CORE = 768  # pixels each window contributes (multiple of ALIGN)
RECEPTIVE_RADIUS = 30  # of g_a and of g_s: four 5x5 stride-2 layers, 2 * (1 + 2 + 4 + 8) px
ENCODER_BLOCK_RADIUS = 12  # a pair of g_a's encoder blocks: a 3x3 at 1/4 (4 px), one at 1/8 (8 px)
DECODER_BLOCK_RADIUS = 8  # one of g_s's decoder blocks: a 3x3 at 1/8
WINDOW_MARGIN = 64  # context on each side, >= RECEPTIVE_RADIUS; a model with latent, encoder or
#                     decoder blocks may need more (window_margin)
WHOLE_IMAGE_PIXELS = 1 << 20  # padded images up to 1 Mpx run in one window


@dataclass(frozen=True)
class Box:
    """A half-open rectangle [x0, x1) x [y0, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def scaled(self, factor: int) -> "Box":
        """The same box at 1/factor resolution (all coordinates must be multiples of it)."""
        assert all(v % factor == 0 for v in (self.x0, self.y0, self.x1, self.y1)), (self, factor)
        return Box(self.x0 // factor, self.y0 // factor, self.x1 // factor, self.y1 // factor)

    def intersection(self, other: "Box") -> "Box | None":
        b = Box(max(self.x0, other.x0), max(self.y0, other.y0),
                min(self.x1, other.x1), min(self.y1, other.y1))
        return b if b.x0 < b.x1 and b.y0 < b.y1 else None

    def grown(self, margin: int, limit: "Box") -> "Box":
        return Box(max(self.x0 - margin, limit.x0), max(self.y0 - margin, limit.y0),
                   min(self.x1 + margin, limit.x1), min(self.y1 + margin, limit.y1))

    def shifted(self, dx: int, dy: int) -> "Box":
        return Box(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)


def padded_size(width: int, height: int) -> tuple[int, int]:
    return -(-width // ALIGN) * ALIGN, -(-height // ALIGN) * ALIGN


def default_tile_size(width: int, height: int, tile: int = DEFAULT_TILE) -> int:
    """The tile side an encoder uses by default: 0 (untiled) when one tile would cover the
    whole image, so small images carry no tile index."""
    pw, ph = padded_size(width, height)
    return 0 if max(pw, ph) <= tile else tile


def tile_grid(width: int, height: int, tile_width: int, tile_height: int) -> list[Box]:
    """The entropy tiles of an image in raster order (pixels of the padded image); an untiled
    image (tile size 0) is a single tile. Edge tiles are cut at the padded size."""
    pw, ph = padded_size(width, height)
    if tile_width == 0:
        return [Box(0, 0, pw, ph)]
    return [Box(x, y, min(x + tile_width, pw), min(y + tile_height, ph))
            for y in range(0, ph, tile_height) for x in range(0, pw, tile_width)]


def tile_count(width: int, height: int, tile_width: int, tile_height: int) -> int:
    if tile_width == 0:
        return 1
    pw, ph = padded_size(width, height)
    return -(-pw // tile_width) * -(-ph // tile_height)


def window_margin(latent_blocks: int, encoder_blocks: int = 0, decoder_blocks: int = 0,
                  restoration_radius: int = 0) -> int:
    """The margin for transforms with this many residual blocks at latent resolution (each
    widens the receptive field by one latent) and, for g_a, this many pairs of encoder blocks,
    for g_s this many decoder blocks and a restoration network that sees this many pixels
    (aecodec.nn.restoration.radius), in whole latents, at least WINDOW_MARGIN."""
    radius = (RECEPTIVE_RADIUS + LATENT * latent_blocks + ENCODER_BLOCK_RADIUS * encoder_blocks
              + DECODER_BLOCK_RADIUS * decoder_blocks + restoration_radius)
    return max(WINDOW_MARGIN, -(-radius // LATENT) * LATENT)


def windows(width: int, height: int, latent_blocks: int = 0, encoder_blocks: int = 0,
            decoder_blocks: int = 0, restoration_radius: int = 0) -> list[tuple[Box, Box]]:
    """(core, outer) boxes in pixels of the padded image: a transform runs on `outer` and
    keeps `core`, window_margin(...) of these pixels around it. The cores cover the padded image exactly once; every coordinate is a multiple of
    LATENT, so the latent grid of a window lines up with the whole image's."""
    pw, ph = padded_size(width, height)
    full = Box(0, 0, pw, ph)
    margin = window_margin(latent_blocks, encoder_blocks, decoder_blocks, restoration_radius)
    if pw * ph <= WHOLE_IMAGE_PIXELS:
        return [(full, full)]
    out = []
    for y in range(0, ph, WINDOW_CORE):
        for x in range(0, pw, WINDOW_CORE):
            core = Box(x, y, min(x + WINDOW_CORE, pw), min(y + WINDOW_CORE, ph))
            out.append((core, core.grown(margin, full)))
    return out


def restoration_box(part: Box, outer: Box, reach: int, block: int) -> Box:
    """Where, inside a processing window `outer`, a restoration network that sees `reach`
    pixels around each output (aecodec.nn.restoration) must run so that it gives the pixels
    of `part` exactly as a pass over the whole image does: `part` grown to whole blocks (the
    network's 2x2 blocks lie on the image's grid), then by `reach`. Only the padded image's
    own border clips it, since a window's margin is wider than any reach."""
    def grow(lo: int, hi: int, lo_bound: int, hi_bound: int) -> tuple[int, int]:
        return max(lo_bound, lo // block * block - reach), min(hi_bound, -(-hi // block) * block + reach)
    x0, x1 = grow(part.x0, part.x1, outer.x0, outer.x1)
    y0, y1 = grow(part.y0, part.y1, outer.y0, outer.y1)
    return Box(x0, y0, x1, y1)

