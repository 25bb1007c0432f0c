"""Numbers typed on a command line or in a shape string, parsed by one set of rules.

Only ASCII digits count (Python's str.isdigit also accepts '3²' and '٣', which int()
then refuses or reads differently); every count has a range, and none is longer than
MAX_DIGITS digits, so no parse runs into Python's int/str limit or a float overflow.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .errors import CnnError, Location

MAX_DIGITS = 18  # 10**18: beyond any size, count or byte figure this tool deals in
DIGITS = re.compile(r"[0-9]+")
BYTES = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kmgtpe]?)(i?b)?", re.IGNORECASE)
UNIT = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def is_count(text: str) -> bool:
    """ASCII digits only, and not too many of them."""
    return DIGITS.fullmatch(text) is not None and len(text) <= MAX_DIGITS


def per_axis(text: str | None, option: str, axes: int, words: tuple[str, ...] = ()) -> list:
    """'3' or '3x3' (one per axis) as a list of ints; also the given words (same, valid)."""
    if text is None:
        return [None] * axes
    if text.lower() in words:
        return [text.lower()] * axes
    parts = text.lower().split("x")
    if not all(is_count(part.strip()) for part in parts) or len(parts) not in (1, axes):
        example = "x".join(["3"] * max(axes, 2))
        several = f", or {axes} of them like {example}" if axes > 1 else f", or one per axis like {example}"
        allowed = "a non-negative integer" + (", " + " or ".join(words) if words else "") + several
        raise CnnError(f"{option} must be {allowed}; received '{text}'")
    values = [int(part) for part in parts]
    return values * axes if len(values) == 1 else values


def dims(text: str) -> list[int] | None:
    """'3x224x224' as [3, 224, 224]; None unless every part is a count (no empty part:
    '3x' is not a shape)."""
    parts = [part.strip() for part in text.split("x")]
    if not all(is_count(part) for part in parts):
        return None
    return [int(part) for part in parts]


def parse_bytes(text: str, option: str, high: int = 2**62) -> int:
    """'24G', '512M', '1.5GiB', '4096' or '4096B': bytes, with binary units (K = 1024),
    computed exactly (no float), at most `high`."""
    match = BYTES.fullmatch(text.strip())
    if not match or len(match.group(1)) > MAX_DIGITS:
        raise CnnError(f"{option} must be a size such as 4G or 512M; received '{text}'")
    value = int(Fraction(match.group(1)) * 1024 ** UNIT[match.group(2).lower()])
    if value > high:
        raise CnnError(f"{option} is too large; received '{text}'; allowed: at most {high:,} bytes")
    return value
