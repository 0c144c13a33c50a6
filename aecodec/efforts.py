"""The encoder's settings a caller picks: the default quality, and the effort levels, what
each spends encode time on. The table on its own, apart from refinement's machinery
(aecodec.refine takes steps and a rate) and without torch: the codec, the command line, the
comparison tool, the cluster client and the bench read and check it here.

Effort 0 is the plain encoder. Effort 1 fits a post-filter to what the file decodes to
(aecodec.wiener; one synthesis and a least-squares fit). Efforts 2-4 first refine the image's
latents (aecodec.refine); what each costs is COST below. The step counts and rates were chosen
with bench/tune_refine.py on 256 px crops of four training photos, where the rate-distortion
cost fell by 2.8, 4.6 and 5.0 % (four Kodak crops agreed: 3.6, 5.5, 6.1 %); fewer steps want a
larger rate, and a cosine decay of it gained nothing (bench/README.md).
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

from .errors import InputError

DEFAULT_QUALITY = 50.0  # 0..100, continuous: the eight trained levels and between them


class Effort(NamedTuple):
    steps: int  # gradient steps on y and z; each costs about one g_s forward and backward
    lr: float  # Adam's learning rate on y and z, which are in units of the quantization step
    postfilter: bool  # fit a post-filter to the decoded image (aecodec.wiener), sent if it pays


EFFORTS = (Effort(0, 0.0, False), Effort(0, 0.0, True), Effort(10, 0.02, True),
           Effort(30, 0.01, True), Effort(60, 0.007, True))
MAX_EFFORT = len(EFFORTS) - 1
# What each effort costs and saves, measured with cc-v38 on all 24 Kodak images (efforts 1-3,
# bench/results/kodak) and by `python -m bench effort` (time ratios and effort 4,
# bench/results/effort); the one place the numbers live: the command line's --help shows it,
# the docstrings point here
COST = ("1 fits a post-filter to the decoded image (about 1.5 % fewer bits at the same quality "
        "on Kodak, encode about 3.5x slower); 2-4 also refine each image's latents first "
        "(about 7, 10.5 or 12 % fewer bits than effort 0, encode about 26x, 69x or 133x "
        "slower where the CPU has bf16, about twice that where it has not). The same decoder "
        "reads the file.")


def check_effort(effort) -> int:
    """`effort` as an int, or an InputError unless it is an integer from 0 to MAX_EFFORT (numpy
    integers are numbers.Integral too; booleans are refused)."""
    if isinstance(effort, bool) or not isinstance(effort, numbers.Integral) \
            or not 0 <= int(effort) <= MAX_EFFORT:
        raise InputError(f"effort must be an integer from 0 to {MAX_EFFORT}, got {effort!r}")
    return int(effort)
