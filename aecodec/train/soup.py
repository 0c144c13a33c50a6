"""Average the weights of runs fine-tuned from the same starting point (a "model soup").

    python -m aecodec.train.soup runs/a/last.ckpt runs/b/last.ckpt --out runs/soup.ckpt

On two CPU cores, two one-thread runs see about 1.45x the images of one two-thread run
(one thread trains at 70 % of two for this model). Runs fine-tuned at a small learning rate from
the same weights stay in one basin, so their mean is a model too, and usually a better one
than either (Wortsman et al. 2022, "Model soups"). The soup is a checkpoint like any other:
export it, or resume from it (with the Adam moments of its largest input, the first of equals,
and the largest step count).
Runs that differ only by blocks one of them added (`--decoder-blocks 3` beside a run without)
average too: the shared weights are averaged, the added blocks keep their one run's weights.
`--kodak` prints the quick estimate of every input and of the soup, to check before shipping.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from ..model import BLOCK_FIELDS, ModelConfig
from .evaluate import quick_eval
from .loop import adam, load_checkpoint, save_checkpoint


def average_state(states: list[dict]) -> dict:
    """The elementwise mean of state dicts, each entry over the dicts that have it (all of
    them, for one architecture); the first must have every entry."""
    # float64 sums: the mean does not depend on the order the checkpoints are given in. The sum
    # starts from the first tensor, not from Python's 0, whose +0.0 would turn a weight that is
    # -0.0 in every input into +0.0: the same computation, but not the same decoder to
    # anything that hashes its bytes (the restoration pairs' decoder digest).
    out = {}
    for k, v in states[0].items():
        having = [s[k].double() for s in states if k in s]
        out[k] = (sum(having[1:], having[0]) / len(having)).to(v.dtype) \
            if v.is_floating_point() else v
    return out


def _grows_into(small: ModelConfig, large: ModelConfig) -> bool:
    """Whether `large` is `small` with more blocks and nothing else changed."""
    counts = {f: getattr(large, f) for f in BLOCK_FIELDS}
    return all(getattr(small, f) <= n for f, n in counts.items()) and \
        replace(small, **counts) == large


def soup(loaded: list[tuple]):
    """(model, optimizer state, run state) of the mean of checkpoints loaded with
    `load_checkpoint`. Inputs may differ by blocks one of them added (a run with
    --decoder-blocks beside one without): the largest input's model is reused for the mean,
    with its Adam moments, and the blocks only it has keep its weights."""
    if len(loaded) < 2:
        raise ValueError("a soup needs at least two checkpoints")
    # the input with the most blocks, which every other must grow into
    model, opt, state = max(loaded, key=lambda item: sum(getattr(item[0].config, f)
                                                         for f in BLOCK_FIELDS))
    if not all(_grows_into(m.config, model.config) for m, _, _ in loaded):
        raise ValueError("checkpoints of different model configs cannot be averaged")
    states = [model.state_dict()] + [m.state_dict() for m, _, _ in loaded if m is not model]
    model.load_state_dict(average_state(states))
    return model, opt, {**state, "step": max(s.get("step", 0) for _, _, s in loaded)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m aecodec.train.soup", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--out", required=True, help="the averaged checkpoint to write")
    p.add_argument("--kodak", default=None, help="print the quick estimate of each input and the soup")
    args = p.parse_args(argv)
    loaded = [load_checkpoint(path) for path in args.checkpoints]
    if args.kodak:  # before averaging: the soup is written into the largest input's model
        for path, (model, _, _) in zip(args.checkpoints, loaded):
            print(path, json.dumps(quick_eval(model, args.kodak)))
    model, opt_state, state = soup(loaded)
    state["soup_of"] = list(args.checkpoints)
    names = opt_state["names"] if opt_state else [n for n, _ in model.named_parameters()]
    # lr is a placeholder: a resumed run sets its own from its schedule at every step
    save_checkpoint(Path(args.out), model, adam(model, names, opt_state, lr=0.0), state)
    print(f"wrote {args.out}: mean of {len(loaded)} checkpoints, step {state['step']}")
    if args.kodak:
        print("soup", json.dumps(quick_eval(model, args.kodak)))


if __name__ == "__main__":
    main()
