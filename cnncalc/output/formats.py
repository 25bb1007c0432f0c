"""The formats of `--format`, each command's renderer per format, and where warnings go.

    RENDERERS[Format(fmt)](summary, depth)        # cnncalc summary
    RF_RENDERERS[Format(fmt)](summary, measured)  # cnncalc rf
    stderr_warnings(Format(fmt), warnings)        # what the CLI prints on standard error

Warnings appear once, in every format: inside the document where the format has a place
for them (JSON's "warnings", a list after markdown's tables), else on standard error, one
`warning: ...` line each, escaped for a terminal (the table; and CSV, where a warning line
would be read as a row), each followed by its kind in brackets: `[stride-skip]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from ..errors import WarningKind, kind_of
from . import csv, json, markdown, text
from .escape import visible


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"


RENDERERS = {
    Format.TABLE: text.to_table,
    Format.JSON: json.to_json,
    Format.CSV: csv.to_csv,
    Format.MARKDOWN: markdown.to_markdown,
}
RF_RENDERERS = {
    Format.TABLE: text.rf_table,
    Format.JSON: json.rf_json,
    Format.CSV: csv.rf_csv,
    Format.MARKDOWN: markdown.rf_markdown,
}
WARNINGS_IN_OUTPUT = frozenset({Format.JSON, Format.MARKDOWN})


def stderr_warnings(fmt: Format | str, warnings: Iterable[str]) -> tuple[str, ...]:
    """The warnings to print on standard error in this format (none where the document
    holds them), escaped for a terminal; the caller adds its `warning: ` prefix."""
    if Format(fmt) in WARNINGS_IN_OUTPUT:
        return ()
    return tuple(warning_line(warning) for warning in warnings)


def warning_line(warning: str) -> str:
    """A warning as standard error shows it: escaped, its kind after it in brackets (the
    name `--no-warn` takes), as compilers name the flag of a diagnostic."""
    kind = kind_of(warning)
    return visible(warning) + (f" [{kind.value}]" if kind is not WarningKind.OTHER else "")
