"""More latent channels for a trained model, computing what it did (network morphism).

Why it was built: unquantized, cc-v16's autoencoder tops out at 37.65 dB on Kodak at its
highest level, the PSNR of keeping the best 192 of 768 linear (PCA) components of each 16x16
block (37.71 dB; 320: 46.46), and at the top of the range our curve climbs far slower than
bmshj2018's M=320 models. Measured in session 24 (weights/TRAINING.md): it does not pay for
cc-v16 on a CPU; the new channels give their symbols back to zero once their rate counts.

`widen(model, m)` returns a model with m latent channels, (m - M) / slice more channels of y
as new slices coded after the old ones (the slice width stays), whose output equals the old
model's: every weight from a new channel into an old one starts at zero, so the old channels
compute what they did. h_s and the latent blocks keep their inner widths (both run at decode
time, h_s in exact arithmetic): only what touches y grows. The new channels start as large
as the old ones (symbols rounded to zero would pass no gradient to g_s, and the new channels
would never come alive), with mean 0 and the old channels' typical scale; until g_s learns to
use them they cost bits for nothing, which `--new-only` and `--rate-slices` training shorten.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from ..model import HyperpriorModel

H_S_OUT = "h_s.4"  # hyper_synthesis' last convolution: the means, then the log-scales


def widen(model: HyperpriorModel, m: int) -> HyperpriorModel:
    return widen_with_masks(model, m)[0]


def widen_with_masks(model: HyperpriorModel, m: int) -> tuple[HyperpriorModel, dict]:
    """The widened model and, per parameter, a mask of its new entries (1.0; 0.0 where it
    holds a weight of the narrow model): what `--new-only` training lets move."""
    old = model.config
    if not old.slices:
        raise ValueError("widening needs a channel-context model (new channels are new slices)")
    size = old.m // old.slices
    if m <= old.m or m % size:
        raise ValueError(f"M={m} must exceed {old.m} by a multiple of the slice width {size}")
    new = HyperpriorModel(replace(old, m=m, slices=m // size, h_s_hidden=old.h_s_widths,
                                  latent_block_mid=old.block_width))
    old_state = model.state_dict()
    modules = dict(new.named_modules())
    masks = {}
    with torch.no_grad():
        for name, p in new.named_parameters():
            masks[name] = torch.ones_like(p)
            if name not in old_state:  # networks of the new slices: their own (no-op) init
                continue
            o = old_state[name]
            owner, _, kind = name.rpartition(".")
            places: list[tuple[Any, torch.Tensor]]  # (index into p, value)
            if o.shape == p.shape:
                places = [(..., o)]
            elif owner == H_S_OUT:
                # rows [means of M, log-scales of M] -> [means of m, log-scales of m] (its
                # input width is kept); new channels get mean 0 and the old typical scale
                p.zero_()
                if kind == "bias":
                    p[m + old.m:] = o[old.m:].mean()
                places = [(slice(0, old.m), o[: old.m]), (slice(m, m + old.m), o[old.m:])]
            elif kind in ("log_gain", "log_inv_gain") and owner == "":
                p[:] = o.mean(dim=1, keepdim=True)  # a typical step for the new channels
                places = [((slice(None), slice(0, old.m)), o)]
            else:
                places = [(_corner(p, o, isinstance(modules[owner], nn.ConvTranspose2d)), o)]
            for at, value in places:
                p[at] = value
                masks[name][at] = 0
        # g_a's new rows: random directions with the trained rows' typical norm, so that the
        # new channels' symbols are not all rounded to zero (where no gradient reaches g_s)
        last = getattr(new.g_a, _last_conv(new.g_a))
        norms = last.weight.flatten(1).norm(dim=1)
        last.weight[old.m:] *= (norms[: old.m].mean() / norms[old.m:])[:, None, None, None]
        last.bias[old.m:] = 0
    return new, masks


def freeze_old_entries(model: HyperpriorModel, masks: dict) -> None:
    """Only the new entries train: parameters wholly of the narrow model stop needing
    gradients, and the gradients of widened ones are masked (a fresh Adam never moves an
    entry whose gradient is always zero)."""
    for name, p in model.named_parameters():
        mask = masks[name]
        if not mask.any():
            p.requires_grad_(False)
        elif not mask.all():
            p.register_hook(lambda grad, mask=mask: grad * mask)


def _corner(p: torch.Tensor, o: torch.Tensor, transposed: bool) -> tuple:
    """Where old tensor `o` goes in new `p`: its corner. The weights from new inputs into
    old outputs are zeroed, so old outputs do not change; the rest keeps its default init."""
    if o.dim() == 1:  # a bias
        return (slice(0, o.shape[0]),)
    out_dim, in_dim = (1, 0) if transposed else (0, 1)
    p.narrow(out_dim, 0, o.shape[out_dim]).zero_()
    at = [slice(None)] * p.dim()
    at[out_dim], at[in_dim] = slice(0, o.shape[out_dim]), slice(0, o.shape[in_dim])
    return tuple(at)


def _last_conv(seq: nn.Sequential) -> str:
    """Name of g_a's last convolution (the one that makes y; latent blocks may follow it)."""
    return [name for name, mod in seq.named_children() if isinstance(mod, nn.Conv2d)][-1]


HIDDEN_FIELDS = ("context_hidden", "checkerboard_hidden")


def widen_hidden(model: HyperpriorModel, **widths: tuple[int, ...]) -> HyperpriorModel:
    """A copy of `model` whose context networks have wider hidden layers (`context_hidden`,
    `checkerboard_hidden`: the same number of layers, none narrower), computing what it did:
    each old weight sits in the corner of its new tensor and the weights from a new hidden
    channel into an old one start at zero (`_corner`). The new channels' own inputs keep
    their default init, so they compute something from the start and their (zero) outgoing
    weights get gradients."""
    for field, new_widths in widths.items():
        if field not in HIDDEN_FIELDS:
            raise ValueError(f"{field} is not a hidden width of the context networks")
        old_widths = getattr(model.config, field)
        if len(new_widths) != len(old_widths) or any(
                n < o for n, o in zip(new_widths, old_widths)):
            raise ValueError(f"{field} {tuple(new_widths)} does not widen {tuple(old_widths)}: "
                             "the same number of layers, each as wide or wider")
    changes: dict[str, Any] = dict(widths)  # Any: replace's stub types **kwargs as one field's
    new = HyperpriorModel(replace(model.config, **changes))
    old_state = model.state_dict()
    modules = dict(new.named_modules())
    with torch.no_grad():
        for name, p in new.named_parameters():
            o = old_state[name]
            if o.shape == p.shape:
                p.copy_(o)
            else:
                owner = name.rpartition(".")[0]
                p[_corner(p, o, isinstance(modules[owner], nn.ConvTranspose2d))] = o
        for name, b in new.named_buffers():
            b.copy_(old_state[name])
    return new
