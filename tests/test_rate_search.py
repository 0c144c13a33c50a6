"""The quality search behind size and bpp targets, on synthetic size curves: bisection's
answer wherever size is monotone, in fewer encodes, and a valid answer where it is not."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from aecodec.rate_search import STEPS, search


def bisection(encode, target, closest):
    """The reference: plain bisection over hundredths, as the codec did before."""
    lo, hi = 0, STEPS
    lo_data, hi_data = encode(0.0), encode(100.0)
    if len(lo_data) >= target:
        return 0.0, lo_data
    if len(hi_data) <= target:
        return 100.0, hi_data
    while hi - lo > 1:
        mid = (lo + hi) // 2
        data = encode(mid / 100)
        if len(data) <= target:
            lo, lo_data = mid, data
        else:
            hi, hi_data = mid, data
    if closest and len(hi_data) - target < target - len(lo_data):
        return hi / 100, hi_data
    return lo / 100, lo_data


def curve(base, growth, bend, step):
    """A monotone size curve like a codec's: log-size roughly linear in quality, bent, with
    plateaus where the size changes only every `step` hundredths."""
    def encode(quality):
        q = (round(quality * 100) // step * step) / STEPS
        return b"x" * int(base * math.exp(growth * q + bend * q * q))
    return encode


def counted(encode, calls):
    def wrapper(quality):
        calls.append(quality)
        return encode(quality)
    return wrapper


@settings(max_examples=200, deadline=None)
@given(base=st.integers(50, 5000), growth=st.floats(0.5, 4.0), bend=st.floats(-0.3, 0.3),
       step=st.sampled_from([1, 1, 7, 50]), where=st.floats(-0.1, 1.1), closest=st.booleans())
def test_same_answer_as_bisection_on_monotone_curves(base, growth, bend, step, where, closest):
    encode = curve(base, growth, bend, step)
    lo, hi = len(encode(0.0)), len(encode(100.0))
    target = lo * (hi / lo) ** where + 0.5
    calls = []
    quality, data = search(counted(encode, calls), target, closest)
    assert (quality, data) == bisection(encode, target, closest)
    assert 0 <= quality <= 100
    if not closest and quality > 0:
        assert len(data) <= target
    assert len(calls) <= 2 + 4 * 14  # the bracket halves at least every fourth probe


def test_fewer_encodes_than_bisection_on_smooth_curves():
    total = {"search": 0, "bisection": 0}
    for growth in (1.0, 2.0, 3.0):
        encode = curve(2000, growth, 0.1, 1)
        for where in (0.1, 0.3, 0.5, 0.7, 0.9):
            target = len(encode(0.0)) * math.exp(growth * where) * 1.001
            for name, fn in (("search", search), ("bisection", bisection)):
                calls = []
                fn(counted(encode, calls), target, False)
                total[name] += len(calls)
    assert total["search"] < 0.6 * total["bisection"]


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.integers(1, 10**6), min_size=3, max_size=40), target=st.integers(1, 10**6),
       closest=st.booleans())
def test_ends_with_a_valid_bracket_on_any_curve(sizes, target, closest):
    """Sizes that are not monotone (or flat, or noisy) still give a file around the target:
    the search ends, and a fitting answer fits."""
    def encode(quality):
        return b"x" * sizes[round(quality * 100) * len(sizes) // (STEPS + 1)]
    calls = []
    quality, data = search(counted(encode, calls), target, closest)
    assert len(calls) <= 2 + 4 * 14  # the bracket halves at least every fourth probe
    if not closest and 0 < quality:
        assert len(data) <= target
