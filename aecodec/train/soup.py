"""Average the weights of runs fine-tuned from the same starting point (a "model soup").

    python -m aecodec.train.soup runs/a/last.ckpt runs/b/last.ckpt --out runs/soup.ckpt

On two CPU cores, two one-thread runs see about twice the images of one two-thread run
(one thread is 70 % of two for this model). Runs fine-tuned at a small learning rate from
the same weights stay in one basin, so their mean is a model too, and usually a better one
than either (Wortsman et al. 2022, "Model soups"). The soup is a checkpoint like any other:
export it, or resume from it (with the first run's Adam moments and the largest step count).
`--kodak` prints the quick estimate of every input and of the soup, to check before shipping.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .evaluate import quick_eval
from .loop import load_checkpoint, save_checkpoint


def average_state(states: list[dict]) -> dict:
    """The elementwise mean of state dicts with the same keys and shapes."""
    first = states[0]
    for other in states[1:]:
        if other.keys() != first.keys() or any(other[k].shape != v.shape
                                                for k, v in first.items()):
            raise ValueError("checkpoints of different architectures cannot be averaged")
    # float64 sums: the mean does not depend on the order the checkpoints are given in
    return {k: (sum(s[k].double() for s in states) / len(states)).to(v.dtype)
            if v.is_floating_point() else v for k, v in first.items()}


def soup(paths: list[str]):
    """(model, optimizer state, run state) of the mean of the checkpoints at `paths`."""
    if len(paths) < 2:
        raise ValueError("a soup needs at least two checkpoints")
    loaded = [load_checkpoint(p) for p in paths]
    configs = {json.dumps(m.config.to_dict(), sort_keys=True) for m, _, _ in loaded}
    if len(configs) > 1:
        raise ValueError("checkpoints of different model configs cannot be averaged")
    model, opt, state = loaded[0]
    model.load_state_dict(average_state([m.state_dict() for m, _, _ in loaded]))
    state = {**state, "step": max(s.get("step", 0) for _, _, s in loaded),
             "soup_of": [str(p) for p in paths]}
    return model, opt, state


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m aecodec.train.soup", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--out", required=True, help="the averaged checkpoint to write")
    p.add_argument("--kodak", default=None, help="print the quick estimate of each input and the soup")
    args = p.parse_args(argv)
    model, opt_state, state = soup(args.checkpoints)
    opt = torch.optim.Adam(model.parameters())
    if opt_state is not None:
        # the first run's moments, in the order save_checkpoint stored them
        named = dict(model.named_parameters())
        opt = torch.optim.Adam([named[n] for n in opt_state["names"]])
        opt.load_state_dict({k: v for k, v in opt_state.items() if k != "names"})
    save_checkpoint(Path(args.out), model, opt, state)
    print(f"wrote {args.out}: mean of {len(args.checkpoints)} checkpoints, step {state['step']}")
    if args.kodak:
        for path in args.checkpoints:
            print(path, json.dumps(quick_eval(load_checkpoint(path)[0], args.kodak)))
        print("soup", json.dumps(quick_eval(model, args.kodak)))


if __name__ == "__main__":
    main()
