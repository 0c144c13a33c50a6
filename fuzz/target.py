"""One input through the parser and the full decoder, and the verdict on what happened.

Acceptable: a decoded image of the declared size, or an aecodec.AecError subclass. Anything
else is a failure: another exception (a bug or a coder panic), an image of the wrong size, or
the three entry points disagreeing (decode_file accepting what read_header refuses, or the
decoder accepting what decode_file refuses).
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass

from aecodec import container
from aecodec.errors import AecError


@dataclass
class Verdict:
    outcome: str  # "ok" or the exception class the full decoder raised
    failure: str | None = None  # why this input counts as a failure, with the traceback


def _call(fn):
    try:
        return fn(), None
    except AecError as exc:
        return None, exc
    except BaseException as exc:  # noqa: BLE001 - everything else is what we are looking for
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, exc


def _describe(where: str, exc: BaseException) -> str:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{where} raised {type(exc).__module__}.{type(exc).__name__}, not an AecError\n{tb}"


def check(data: bytes, codec) -> Verdict:
    """Run read_header, decode_file and codec.decompress on `data` with the codec's limits."""
    limits = {"max_pixels": codec.max_pixels, "max_dimension": codec.max_dimension}
    head, head_err = _call(lambda: container.read_header(data, **limits))
    parsed, parse_err = _call(lambda: container.decode_file(data, **limits))
    image, err = _call(lambda: codec.decompress(data))
    outcome = "ok" if err is None else type(err).__name__
    for where, e in (("read_header", head_err), ("decode_file", parse_err), ("decompress", err)):
        if e is not None and not isinstance(e, AecError):
            return Verdict(outcome, _describe(where, e))
    if parsed is not None and (head is None or head[0] != parsed.header):
        return Verdict(outcome, f"decode_file accepted a file whose header read_header refused: {head_err!r}")
    if image is not None:
        if parsed is None:
            return Verdict(outcome, f"decompress accepted a file decode_file refused: {parse_err!r}")
        hd = parsed.header
        if image.size != (hd.width, hd.height) or image.mode != hd.mode:
            return Verdict(outcome, f"decoded {image.size} {image.mode}, header says "
                                    f"{hd.width}x{hd.height} {hd.mode}")
    return Verdict(outcome)
