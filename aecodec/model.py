"""The variable-rate mean-scale hyperprior: transforms, gain units and entropy parameters.

Names follow the literature: x -> g_a -> y -> (gain) -> h_a -> z; z_hat -> h_s -> (mu, log sigma);
y_hat -> (inverse gain) -> g_s -> (restoration, conditioned on the level) -> x_hat.

Rate control (Cui et al. 2021, asymmetric gained compression): one learned gain vector and one
inverse-gain vector over the M channels of y per trained level. A continuous level t in
[0, levels-1] interpolates the log-gains linearly, i.e. the gains geometrically, between the two
nearest trained levels; training samples t continuously so every point of the scale is trained.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Callable

import torch
from torch import nn

from .nn.context import ChannelContext, CheckerboardContext, ResidualPrediction
from .nn.factorized import FactorizedDensity
from .nn.restoration import SCALES, Restoration, nested
from .nn.transforms import analysis, hyper_analysis, hyper_synthesis, is_latent_block, synthesis

SCALE_MIN = 0.11
SCALE_MAX = 256.0
LIKELIHOOD_FLOOR = 1e-9


@dataclass(frozen=True)
class ModelConfig:
    n: int = 128
    m: int = 192
    # Rate-distortion trade-offs of the trained levels: loss = lambda * 255^2 * MSE + bpp.
    lambdas: tuple[float, ...] = field(
        default=(0.0012, 0.0024, 0.0048, 0.0096, 0.0192, 0.0384, 0.0768, 0.1536))
    # Channel-wise context (aecodec.nn.context): number of y slices, 0 for the plain
    # hyperprior, and the hidden widths of each slice network.
    slices: int = 0
    context_hidden: tuple[int, ...] = (64, 48)
    # Latent residual prediction (a context model only): hidden widths of each slice's
    # network, empty for none.
    lrp_hidden: tuple[int, ...] = ()
    # Checkerboard context inside each slice (a context model only): hidden widths of each
    # slice's spatial network, empty for none.
    checkerboard_hidden: tuple[int, ...] = ()
    # Residual bottleneck blocks at the latent end of g_a and the latent start of g_s
    # (aecodec.nn.transforms), each widening g_s's receptive field by one latent.
    latent_blocks: int = 0
    # Channels inside each latent block; 0 for the default M/2 (a widened model keeps the
    # narrower model's: the blocks run at decode time).
    latent_block_mid: int = 0
    # Residual blocks in g_a alone, this many at 1/4 and as many at 1/8 resolution
    # (aecodec.nn.transforms.analysis): the decoder does not run them.
    encoder_blocks: int = 0
    # Residual blocks in g_s at 1/8 resolution (aecodec.nn.transforms.synthesis): decoder
    # capacity, each block about 2 % of a decode.
    decoder_blocks: int = 0
    # Hidden widths of h_s's two transposed convolutions; empty for the default (M, 3M/2).
    # A widened model (aecodec.train.widen) keeps the narrower model's: h_s runs in exact
    # arithmetic at decode time, where its width costs the most.
    h_s_hidden: tuple[int, ...] = ()
    # Hidden widths of the restoration network after g_s (aecodec.nn.restoration), empty
    # for none: decoder capacity at full resolution, conditioned on the level.
    restoration_hidden: tuple[int, ...] = ()
    # Widths of its 3x3 layers at quarter resolution, empty for none: a second scale that
    # sees farther at a sixteenth of the full-resolution cost.
    restoration_low: tuple[int, ...] = ()
    # Widths of a third scale inside the second, at an eighth of the resolution, empty for
    # none: it sees farther again at a sixty-fourth of the cost.
    restoration_lower: tuple[int, ...] = ()
    # Widths of a fourth scale inside the third, at a sixteenth of the resolution, empty for
    # none: 16x16-pixel blocks, a two-hundred-fifty-sixth of the cost.
    restoration_lowest: tuple[int, ...] = ()

    def __post_init__(self):
        if self.lrp_hidden and not self.slices:
            raise ValueError("latent residual prediction needs a channel context (slices > 0)")
        if self.checkerboard_hidden and not self.slices:
            raise ValueError("the checkerboard context needs a channel context (slices > 0)")
        if any(self.restoration_scales) and not self.restoration_hidden:
            raise ValueError("a coarser restoration scale needs the network (restoration_hidden)")
        try:
            nested(*self.restoration_scales)
        except ValueError as e:
            raise ValueError(f"restoration scales: {e}") from None

    @property
    def restoration_scales(self) -> tuple[tuple[int, ...], ...]:
        """The widths of the restoration network's coarser scales, outermost first (SCALES:
        restoration_low, restoration_lower, restoration_lowest)."""
        return tuple(getattr(self, f"restoration_{name}") for name in SCALES)

    @property
    def levels(self) -> int:
        return len(self.lambdas)

    @property
    def block_width(self) -> int:
        """Channels inside each latent block."""
        return self.latent_block_mid or self.m // 2

    @property
    def h_s_widths(self) -> tuple[int, ...]:
        """Output widths of h_s's two transposed convolutions."""
        return self.h_s_hidden or (self.m, self.m * 3 // 2)

    def to_dict(self) -> dict:
        """The config as JSON takes it (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """The config of `d`, each value parsed by its field's type. Only n, m and lambdas are
        in every config: the fields added since are absent from older weights' configs and
        take their defaults, which are what those weights were built with."""
        return cls(**{f.name: _PARSE[str(f.type)](d[f.name]) for f in fields(cls)
                      if f.name in d or f.name in ("n", "m", "lambdas")})


# The config's fields of the restoration network: its hidden widths, then its coarser scales
RESTORATION_FIELDS = tuple(f"restoration_{name}" for name in ("hidden", *SCALES))

# How from_dict reads a value of each type the fields of ModelConfig have
_PARSE: dict[str, Callable[[Any], Any]] = {
    "int": int,
    "tuple[int, ...]": lambda v: tuple(int(x) for x in v),
    "tuple[float, ...]": lambda v: tuple(float(x) for x in v)}


class _LowerBound(torch.autograd.Function):
    """max(x, bound), letting the gradient through where it pushes x back above the bound."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return torch.clamp_min(x, bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        passthrough = (x >= ctx.bound) | (grad < 0)
        return grad * passthrough, None


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


def gaussian_likelihood(y: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """Mass of N(mu, sigma) on the unit interval around y, in float32."""
    log_sigma = _LowerBound.apply(log_sigma.float(), math.log(SCALE_MIN))
    sigma = torch.exp(log_sigma.clamp_max(math.log(SCALE_MAX)))
    v = torch.abs(y.float() - mu.float())
    const = -(2**-0.5)
    upper = 0.5 * torch.erfc(const * (0.5 - v) / sigma)
    lower = 0.5 * torch.erfc(const * (-0.5 - v) / sigma)
    return _LowerBound.apply(upper - lower, LIKELIHOOD_FLOOR)


class HyperpriorModel(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        n, m, q = config.n, config.m, config.levels
        self.g_a = analysis(n, m, config.latent_blocks, config.block_width,
                            config.encoder_blocks)
        self.g_s = synthesis(n, m, config.latent_blocks, config.block_width,
                             config.decoder_blocks)
        self.h_a = hyper_analysis(n, m)
        # Optional: a model loaded for coding drops h_s and the context networks, whose
        # exact integer copies (aecodec.exact) are what the entropy coder uses.
        self.h_s: nn.Sequential | None = hyper_synthesis(n, m, config.h_s_widths)
        self.z_density = FactorizedDensity(n)
        self.context: ChannelContext | None = ChannelContext(m, config.slices,
                                                             config.context_hidden) \
            if config.slices else None
        self.lrp = ResidualPrediction(m, config.slices, config.lrp_hidden) \
            if config.lrp_hidden else None
        self.spatial: CheckerboardContext | None = CheckerboardContext(
            m, config.slices, config.checkerboard_hidden) \
            if config.checkerboard_hidden else None
        self.restoration = Restoration(config.restoration_hidden, q,
                                       *config.restoration_scales) \
            if config.restoration_hidden else None
        # Start each level's quantization step near the rate-distortion optimum: the step
        # scales like lambda^-1/2, so the gain like lambda^1/2 around the middle level.
        log_lam = torch.log(torch.tensor(config.lambdas))
        init = 0.5 * (log_lam - log_lam.mean())
        self.log_gain = nn.Parameter(init.view(q, 1).repeat(1, m))
        self.log_inv_gain = nn.Parameter(-init.view(q, 1).repeat(1, m))

    @property
    def float_h_s(self) -> nn.Sequential:
        """h_s in floating point, for training and encoder-side refinement."""
        if self.h_s is None:
            raise RuntimeError("this model was loaded for coding: its h_s is the exact one")
        return self.h_s

    # -- rate control -------------------------------------------------------------------------
    def _interp(self, table: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.clamp(0, self.config.levels - 1)
        lo = t.floor().long().clamp_max(self.config.levels - 2)
        frac = (t - lo).unsqueeze(-1)
        return table[lo] * (1 - frac) + table[lo + 1] * frac

    def gains(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gain and inverse gain (B, M, 1, 1) for continuous levels t (B,)."""
        g = torch.exp(self._interp(self.log_gain, t))
        ig = torch.exp(self._interp(self.log_inv_gain, t))
        return g[:, :, None, None], ig[:, :, None, None]

    def lambdas(self, t: torch.Tensor) -> torch.Tensor:
        log_lam = torch.log(torch.tensor(self.config.lambdas, device=t.device))
        return torch.exp(self._interp(log_lam.view(-1, 1), t).squeeze(-1))

    # -- training -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, t: torch.Tensor, autocast: bool = False,
                rate_slices: int | None = None) -> dict:
        """x in [0, 1] (B, 3, H, W), t (B,) levels. Returns x_hat and bits per sample (of the
        first `rate_slices` slices of y only, when given: aecodec.train.widen)."""
        gain, inv_gain = self.gains(t)
        device = x.device.type
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            y = self.g_a(x) * gain
        bits_y, bits_z, y_hat, mean = self.rate(y, autocast, rate_slices)
        y_hat = self.reconstruct(y_hat, mean)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            x_hat = self.synthesize(y_hat * inv_gain, t)
        return {"x_hat": x_hat.float(), "bits": bits_y + bits_z, "bits_z": bits_z}

    def rate(self, y: torch.Tensor, autocast: bool = False, rate_slices: int | None = None,
             noise: bool = True):
        """The side of the model that decides a file's size: bits per sample of the gained
        latents y (B, M, h, w) and of their hyper-latents z, and y_hat with the means it is
        quantized around. The bits are measured under uniform noise (training), or with
        noise=False on z and y rounded as a file codes them (evaluation)."""
        with torch.autocast(y.device.type, dtype=torch.bfloat16, enabled=autocast):
            z = self.h_a(y)
        z = z.float()
        z_coded = z + torch.empty_like(z).uniform_(-0.5, 0.5) if noise else torch.round(z)
        bits_z = -torch.log2(self.z_density.likelihood(z_coded).clamp_min(LIKELIHOOD_FLOOR))
        with torch.autocast(y.device.type, dtype=torch.bfloat16, enabled=autocast):
            params = self.float_h_s(round_ste(z))
        mu, log_sigma = params.float().chunk(2, dim=1)
        bits_y, y_hat, mean = self.code_y(y.float(), mu, log_sigma, noise=noise,
                                          rate_slices=rate_slices)
        return bits_y, bits_z.sum(dim=(1, 2, 3)), y_hat, mean

    def synthesize(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The pixels (B, 3, 16h, 16w) of y (B, M, h, w), already multiplied by the inverse
        gains of the levels t (B,): g_s, then the restoration network when the model has one."""
        x_hat = self.g_s(y)
        return x_hat if self.restoration is None else self.restoration(x_hat, t)

    def reconstruct(self, y_hat: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """What g_s synthesizes from: the decoded y_hat, corrected by residual prediction
        when the model has it."""
        return y_hat if self.lrp is None else self.lrp(y_hat, mean)

    def code_y(self, y: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor,
               noise: bool = True, quantize=round_ste, rate_slices: int | None = None):
        """Bits per sample of y under the hyperprior's (mu, log_sigma), refined slice by slice
        by the channel context when there is one (and inside each slice by the checkerboard
        context when there is one), y_hat (quantized around the mean) and the
        means. The rate is measured on y plus uniform noise (training) or on y_hat (noise=False).
        `quantize` maps y - mean to its quantized value: rounding with a straight-through
        gradient, or the soft rounding of encoder-side refinement (aecodec.refine)."""
        y_rate = y + torch.empty_like(y).uniform_(-0.5, 0.5) if noise else None
        s = self.context.size if self.context is not None else y.shape[1]
        bits = y.new_zeros(y.shape[0])
        decoded: list[torch.Tensor] = []
        means: list[torch.Tensor] = []
        for k in range(y.shape[1] // s):
            part = slice(k * s, (k + 1) * s)
            if self.context is None:
                mean_k, scale_k = mu, log_sigma
            else:
                mean_k, scale_k = self.context.slice_params(k, mu, log_sigma, decoded)
                if self.spatial is not None:
                    mean_k, scale_k = self.spatial.refine(
                        k, quantize(y[:, part] - mean_k), mean_k, scale_k)
            y_hat_k = quantize(y[:, part] - mean_k) + mean_k
            at = y_rate[:, part] if y_rate is not None else y_hat_k
            if rate_slices is None or k < rate_slices:
                bits = bits - torch.log2(gaussian_likelihood(at, mean_k, scale_k)).sum(
                    dim=(1, 2, 3))
            decoded.append(y_hat_k)
            means.append(mean_k)
        return bits, torch.cat(decoded, dim=1), torch.cat(means, dim=1)


# config fields that count residual blocks, each added as the identity by `extend`
BLOCK_FIELDS = ("latent_blocks", "encoder_blocks", "decoder_blocks")


def extend(model: HyperpriorModel, **changes) -> HyperpriorModel:
    """A copy of `model` with config changes that only add modules (a context, residual
    prediction, latent blocks); every added module starts as a no-op, so the copy computes
    what `model` did."""
    new = HyperpriorModel(replace(model.config, **changes))
    old_state, new_state = model.state_dict(), new.state_dict()
    if not all(k in new_state and new_state[k].shape == v.shape for k, v in old_state.items()):
        raise ValueError(f"{changes} does not only add modules to the model")
    new.load_state_dict(old_state, strict=False)
    return new


def with_restoration(model: HyperpriorModel, hidden: tuple[int, ...] = (),
                     *scales: tuple[int, ...]) -> HyperpriorModel:
    """`model` with the restoration network these widths ask for (empty: whatever it has):
    the hidden widths, then those of its coarser scales in the order of SCALES (low, lower,
    lowest). A new network when it has none, or the coarser scales it lacks added to the
    network it has, which the copy starts by computing (aecodec.nn.restoration). Widths that
    contradict the network it has raise ValueError."""
    config = model.config
    if model.restoration is None and not hidden:
        if any(scales):
            raise ValueError("the model has no restoration network to give a coarser scale")
        return model
    changes: dict = {}
    for name, want in zip(RESTORATION_FIELDS, (hidden, *scales)):
        have = getattr(config, name)
        if want and have and want != have:
            part = name.removeprefix("restoration_")
            raise ValueError(f"the model's restoration network has {part} widths {have}, "
                             f"not {want}")
        if want and not have:
            changes[name] = want
    # the config refuses a scale without the one it sits in
    return extend(model, **changes) if changes else model


def without_latent_blocks(model: HyperpriorModel) -> HyperpriorModel:
    """A copy of `model` without its latent blocks, every other weight kept: the inverse of
    `extend(model, latent_blocks=k)` (what `python -m bench blocks` measures block counts from).
    Not strict, as `extend`: a loaded model holds only its float parts."""
    new = HyperpriorModel(replace(model.config, latent_blocks=0))
    new.load_state_dict({k: v for k, v in model.state_dict().items() if not is_latent_block(k)},
                        strict=False)
    return new
