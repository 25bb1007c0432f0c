"""The one exception type a user can cause, and where in their file it points.

Every error a user can provoke (a typo, a kernel too large, a malformed file) is a
`CnnError` carrying the `Location` of the offending text. The CLI prints it as

    PATH:LINE:COL: error: layer 'conv2' (conv2d): MESSAGE
        7 |   - conv2d: {out: 64, kernel: 7}
          |                               ^

and exits with code 2. Anything else that escapes is a bug.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Location:
    """A position in a source: 1-based line and column."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class CnnError(Exception):
    """A problem with the user's input, pointing at where it is."""

    def __init__(self, message: str, location: Location | None = None, layer: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.layer = layer  # "layer 'conv2' (conv2d)", already worded

    def headline(self) -> str:
        where = str(self.location) if self.location else "cnncalc"
        subject = f"{self.layer}: " if self.layer else ""
        return visible(f"{where}: error: {subject}{self.message}")

    def render(self, sources: dict[str, str] | None = None) -> str:
        """The headline, then the source line with a caret under the column."""
        text = self.headline()
        loc = self.location
        if loc is None or not sources or loc.path not in sources:
            return text
        lines = sources[loc.path].splitlines()
        if not 1 <= loc.line <= len(lines):
            return text
        raw = lines[loc.line - 1].rstrip("\n").replace("\t", " ")
        gutter = f"{loc.line:>5} | "
        caret = " " * (len(gutter) - 2) + "| " + " " * len(visible(raw[: loc.column - 1])) + "^"
        source_line = visible(raw)
        return f"{text}\n{gutter}{source_line}\n{caret}"


CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """Text safe to print on a terminal: control characters (ESC, CSI, NUL, ...) and bidi
    overrides from a user's file shown as escapes (\\x1b), never sent as they are."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a close match among choices, else ''."""
    pool = sorted(set(choices))
    lowered = {c.lower(): c for c in pool}
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[matches[0]]}'?)" if matches else ""


def format_shape(shape: Iterable[int]) -> str:
    """(64, 7, 7) as users write it in messages."""
    dims = tuple(shape)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
