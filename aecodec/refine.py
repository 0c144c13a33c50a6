"""Encoder-side latent refinement: spend encode time to make one image's file better.

g_a predicts latents that are good on average over the training images. For one image, a few
gradient steps on its y and z against the loss the model was trained with (lambda * 255^2 *
MSE + bits per pixel, at the level being coded) find latents that the same decoder turns into
a better picture for fewer bits: the "amortization gap" of Campos et al. 2019 and Yang et al.
2020. Rounding has no useful gradient, so it is relaxed by stochastic Gumbel annealing (SGA,
Yang et al. 2020): each value goes up or down at random, with odds that sharpen from soft
to hard as a temperature falls. Measured on 256 px crops of kodim01 and kodim05 with 30
steps, SGA saved 8 % of the bits at level 1 and gave +0.42 dB at level 5; straight-through
rounding or additive noise as in training gained 0-3 % and then drifted worse.

Only the encoder changes. The file is an ordinary file of the same model, decoded by the
same exact path, so refined and plain files mix freely. The networks that the decoder runs in
integers (h_s and the context networks) are used here as float copies of those integers:
differentiable, and within rounding of what the coder will compute.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from . import tiling
from .hardware import native_bf16
from .images import padded_window
from .model import LIKELIHOOD_FLOOR, HyperpriorModel
from .tiling import LATENT, Box

BLOCK = 768  # pixels: larger images are refined block by block, which bounds memory
MARGIN = 64  # pixels of neighbours around a block while it is refined (a multiple of 64)
TAU_START, TAU_END = 0.5, 0.05  # SGA temperature, lowered geometrically over the steps
SEED = 0x5EED  # the random rounding is seeded, so an encode is repeatable


def soft_round(v: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """SGA: floor(v) plus a random weight in (0, 1) of rounding up. The two-way Gumbel-softmax
    reduces to a sigmoid with logistic noise; as tau falls the weight tends to 0 or 1."""
    down = v - torch.floor(v)  # distance to the integer below, in [0, 1)
    eps = 1e-5
    up = 1 - down
    logit = (torch.atanh(down.clamp(eps, 1 - eps)) - torch.atanh(up.clamp(eps, 1 - eps))) / tau
    u = torch.rand(v.shape, generator=generator, device=v.device).clamp_(eps, 1 - eps)
    return torch.floor(v) + torch.sigmoid(logit + torch.log(u) - torch.log1p(-u))


class Adam:
    """Adam (Kingma & Ba 2015, PyTorch's defaults) on a few tensors, step for step the
    arithmetic of torch.optim.Adam's single-tensor CPU path. Not torch.optim itself: its
    first parameter group imports torch._dynamo, 2.3-2.5 s of every process that refines
    (half the time of a small image's effort-2 encode)."""

    BETAS, EPS = (0.9, 0.999), 1e-8

    def __init__(self, params: list[torch.Tensor], lr: float):
        self.params, self.lr, self.steps = params, lr, 0
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        b1, b2 = self.BETAS
        step_size = self.lr / (1 - b1**self.steps)
        correction2_sqrt = (1 - b2**self.steps) ** 0.5
        for p, (m, v) in zip(self.params, self.moments):
            grad = p.grad
            if grad is None:  # not reached by this loss
                continue
            m.lerp_(grad, 1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            p.addcdiv_(m, (v.sqrt() / correction2_sqrt).add_(self.EPS), value=-step_size)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


_SURROGATES: dict[tuple[str, str, str], HyperpriorModel] = {}


@torch.no_grad()
def surrogate(lm, device: torch.device) -> HyperpriorModel:
    """The whole model in floats on `device`: the shipped float parts, and h_s and the context
    networks rebuilt from their shipped integers. Cached per model, weights hash and device."""
    key = (lm.model_id, lm.sha256, str(device))
    net = _SURROGATES.get(key)
    if net is None:
        net = HyperpriorModel(lm.config)
        missing = net.load_state_dict(lm.net.state_dict(), strict=False).missing_keys
        if any(not k.startswith(("h_s.", "context.", "spatial.")) for k in missing):
            raise ValueError(f"float weights missing from {lm.model_id}")
        lm.h_s.load_into(net.h_s)
        if lm.context is not None:
            lm.context.load_into(net.context, net.spatial)
        # NHWC weights, as the decoder's: oneDNN's convolutions run a refinement step about
        # 15 % faster on a CPU (a Kodak image: 0.48 -> 0.41 s forward and backward, 2 threads)
        net.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        net.eval().requires_grad_(False)  # (torch's stubs lack Module.to's memory_format)
        _SURROGATES.clear()  # one model at a time: a surrogate is another copy of the weights
        _SURROGATES[key] = net
    return net  # not read back from the cache, which another thread may have cleared


@dataclass
class Window:
    """What one block is refined against: the pixels of the block and a margin around it
    (`x`, of which the top-left `valid` (width, height) is image, the rest padding), where the
    block's latents sit in the margin's (`core`, latent units), and the margin's own latents,
    held fixed (`margin`: y_hat and means, hard-rounded), or None when there is no margin."""

    x: torch.Tensor
    valid: tuple[int, int]
    core: Box
    margin: tuple[torch.Tensor, torch.Tensor] | None


def rd_loss(net: HyperpriorModel, win: Window, y: torch.Tensor, z: torch.Tensor,
            level: torch.Tensor, quantize, autocast: bool) -> torch.Tensor:
    """lambda * 255^2 * MSE over the window's image pixels, plus the bits of the block's
    latents y, z (its entropy model sees only them, as the decoder of a tile does), per pixel
    of the window."""
    z_hat = quantize(z)
    bits = -torch.log2(net.z_density.likelihood(z_hat).clamp_min(LIKELIHOOD_FLOOR)).sum()
    mu, log_sigma = net.float_h_s(z_hat).chunk(2, dim=1)
    bits_y, y_hat, mean = net.code_y(y, mu, log_sigma, noise=False, quantize=quantize)
    if win.margin is not None:  # the block's latents among its neighbours' fixed ones
        c = win.core
        y_all, mean_all = (fixed.clone() for fixed in win.margin)
        y_all[..., c.y0:c.y1, c.x0:c.x1] = y_hat
        mean_all[..., c.y0:c.y1, c.x0:c.x1] = mean
        y_hat, mean = y_all, mean_all
    _, inv_gain = net.gains(level)
    with torch.autocast(win.x.device.type, dtype=torch.bfloat16, enabled=autocast):
        x_hat = net.synthesize(net.reconstruct(y_hat, mean) * inv_gain, level)
    w, h = win.valid
    mse = (x_hat.float()[..., :h, :w] - win.x[..., :h, :w]).square().mean()
    return net.lambdas(level)[0] * 255**2 * mse + (bits + bits_y.sum()) / (w * h)


@torch.enable_grad()  # the encoder runs under no_grad; only y and z get gradients here
def refine_block(net, win: Window, y0, z0, level, steps: int, lr: float, autocast: bool,
                 generator):
    """Refined (y, z) of one block, or (y0, z0) back if refining did not lower the loss
    with hard rounding (the loss the file will have)."""
    y = y0.clone().requires_grad_(True)
    z = z0.clone().requires_grad_(True)
    opt = Adam([y, z], lr=lr)
    for i in range(steps):
        tau = TAU_START * (TAU_END / TAU_START) ** (i / max(steps - 1, 1))
        soft = partial(soft_round, tau=tau, generator=generator)
        loss = rd_loss(net, win, y, z, level, soft, autocast)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        before = rd_loss(net, win, y0, z0, level, torch.round, autocast)
        after = rd_loss(net, win, y, z, level, torch.round, autocast)
    return (y.detach(), z.detach()) if after < before else (y0, z0)


def blocks(width: int, height: int, tile: int) -> list[Box]:
    """The blocks refined one at a time: the file's tiles (each has its own entropy model),
    cut into near-equal pieces of at most BLOCK pixels a side (a 1024 px tile in 512s)."""
    def step(side: int) -> int:
        pieces = -(-side // BLOCK)
        return -(-side // (pieces * tiling.ALIGN)) * tiling.ALIGN

    out = []
    for t in tiling.tile_grid(width, height, tile, tile):
        sx, sy = step(t.width), step(t.height)
        out += [Box(x, y, min(x + sx, t.x1), min(y + sy, t.y1))
                for y in range(t.y0, t.y1, sy) for x in range(t.x0, t.x1, sx)]
    return out


def _window(net, rgb: np.ndarray, y_all: torch.Tensor, core: Box, full: Box,
            device) -> Window:
    outer = core.grown(MARGIN, full)
    h, w = rgb.shape[:2]
    x = torch.from_numpy(padded_window(rgb, outer)).permute(2, 0, 1)[None].to(device)
    valid = (min(outer.x1, w) - outer.x0, min(outer.y1, h) - outer.y0)
    inner = core.shifted(-outer.x0, -outer.y0).scaled(LATENT)
    margin = None
    if outer != core:
        o = outer.scaled(LATENT)
        y = y_all[..., o.y0:o.y1, o.x0:o.x1]
        with torch.no_grad():
            mu, log_sigma = net.float_h_s(torch.round(net.h_a(y))).chunk(2, dim=1)
            _, y_hat, mean = net.code_y(y, mu, log_sigma, noise=False, quantize=torch.round)
        margin = (y_hat, mean)
    return Window(x.float().div_(255), valid, inner, margin)


def refine(lm, rgb: np.ndarray, features: torch.Tensor, level: float, steps: int, lr: float,
           tile: int = 0, device: torch.device = torch.device("cpu")):
    """Refined y (M, ph/16, pw/16, after the gain) and z (N, ph/64, pw/64), both float on
    the CPU, of an image `rgb` (H, W, 3 uint8) whose g_a output before the gain is
    `features`, to be coded in tiles of `tile` pixels (0: untiled): `steps` steps of Adam at
    rate `lr` (an effort's, aecodec.efforts), run on `device`. Blocks are refined in raster
    order, each with its neighbours as they stand."""
    net = surrogate(lm, device)
    h, w = rgb.shape[:2]
    t = torch.tensor([float(level)], device=device)
    gain, _ = net.gains(t)
    autocast = native_bf16(device)
    generator = torch.Generator(device=device).manual_seed(SEED)
    pw, ph = tiling.padded_size(w, h)
    y_out = features[None].to(device) * gain
    z_out = torch.empty((1, lm.config.n, ph // tiling.ALIGN, pw // tiling.ALIGN), device=device)
    for core in blocks(w, h, tile):
        win = _window(net, rgb, y_out, core, Box(0, 0, pw, ph), device)
        b, zb = core.scaled(LATENT), core.scaled(tiling.ALIGN)
        y0 = y_out[..., b.y0:b.y1, b.x0:b.x1].clone()
        with torch.no_grad():
            z0 = net.h_a(y0)
        y, z = refine_block(net, win, y0, z0, t, steps, lr, autocast, generator)
        y_out[..., b.y0:b.y1, b.x0:b.x1] = y
        z_out[..., zb.y0:zb.y1, zb.x0:zb.x1] = z
    return y_out[0].cpu(), z_out[0].cpu()
