"""The exceptions aecodec raises.

Everything derives from AecError so that callers (the CLI, the Pillow plugin) can catch one class
and turn it into a clean message; a bare IndexError or struct.error escaping a parser is a bug.
"""
from __future__ import annotations


class AecError(Exception):
    """Base class of every error aecodec raises on purpose."""


class FormatError(AecError):
    """The data is not a valid .aec file: a structural rule of docs/FORMAT.md is broken."""


class NotAecFileError(FormatError):
    """The data is empty or does not start with the .aec signature."""


class UnsupportedVersionError(FormatError):
    """The file's format major version is not one this reader knows (a newer minor is fine)."""


class TruncatedFileError(FormatError):
    """The data ends early: a chunk runs past the end, or the closing AEND chunk is missing."""


class CorruptChunkError(FormatError):
    """A chunk's CRC32 does not match its type and payload; `.chunk` names the chunk."""

    def __init__(self, chunk: str, message: str | None = None) -> None:
        self.chunk = chunk
        super().__init__(message or f"CRC mismatch in chunk {chunk!r}: the file is corrupt")

    def __reduce__(self):  # keep `.chunk` across pickling (multiprocessing workers)
        return (type(self), (self.chunk, str(self)))


class UnknownModelError(FormatError):
    """The file names a model id or weights hash that no installed model matches, or the
    installed weights cannot provide a model (no manifest, a malformed one, a damaged file)."""


class DecodeError(FormatError):
    """An entropy-coded stream is inconsistent with the model's tables (bad symbols, early end)."""


class LimitError(AecError):
    """The declared image size exceeds the configured max_pixels / max_dimension limits.

    Raised from the header alone, before any pixel buffer is allocated (decompression-bomb guard).
    """


class OutputError(AecError):
    """An output cannot be written safely (it exists without force, is the input, or is a
    folder), or not in the format asked for (an RGBA image as JPEG)."""


class InputError(AecError):
    """Bad encoder input: unsupported mode, zero-size image, unreadable file, invalid header."""


class AecWarning(UserWarning):
    """Base class of aecodec's warnings: the job was done, but not entirely as asked."""


class MetadataWarning(AecWarning):
    """Metadata that could not be kept (a profile that does not fit the coded pixels)."""


class TargetWarning(AecWarning):
    """A size or bpp target that no quality meets; the nearest file is returned."""


class InputWarning(AecWarning):
    """Part of the input is not coded: the frames after the first of an animation."""


__all__ = [
    "AecError",
    "FormatError",
    "NotAecFileError",
    "UnsupportedVersionError",
    "TruncatedFileError",
    "CorruptChunkError",
    "UnknownModelError",
    "DecodeError",
    "LimitError",
    "InputError",
    "OutputError",
    "AecWarning",
    "MetadataWarning",
    "TargetWarning",
    "InputWarning",
]
