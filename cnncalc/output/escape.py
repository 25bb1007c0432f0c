"""Text from the user's file made inert in each medium that shows it.

Names (of the network, its layers, its blocks) may hold any character a YAML string allows:
newlines, escape sequences, bidi overrides, markup. Every renderer passes such text
through one function here, chosen by the medium:

- `visible(text)`: for people (terminal, markdown, HTML, SVG). Characters that would act
  rather than show (C0 and C1 controls, DEL, format characters such as bidi overrides and
  zero-width joiners, line and paragraph separators, unassigned code points) are written as
  Python writes them in a string literal (`\\x1b`, `\\n`, `\\u202e`), and a backslash as
  `\\\\`, so the shown text is unambiguous and `unvisible()` gives the name back.
- `markdown_text`, `markdown_code`: a markdown table cell or a line of prose; no newline,
  pipe, HTML, link or emphasis from the name survives as markup.
- `csv_text`: a spreadsheet cell; text starting with `=`, `+`, `-`, `@`, a tab or a carriage
  return (OWASP's formula triggers) or with the guard itself, `'`, gets a leading `'`, and
  is quoted as RFC 4180 says. Numbers are never passed here. `csv_unguard` undoes the guard.
- `xml_text`: XML character data; characters XML 1.0 forbids become `visible()` escapes.

JSON needs nothing here: `json.dumps` escapes by JSON's own rules and round-trips exactly.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape as xml_escape

from ..errors import escaped, visible as shown

def visible(text: str) -> str:
    """The text with every acting character and backslash written as an escape (one rule
    with error messages: errors.visible)."""
    return shown(text, reversible=True)


UNVISIBLE = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def unvisible(text: str) -> str:
    """The inverse of `visible` (for tests and for readers of the shown text)."""

    def back(match: re.Match) -> str:
        code = match.group(1)
        return {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}.get(code) or chr(int(code[1:], 16))

    return UNVISIBLE.sub(back, text)


# -- markdown ----------------------------------------------------------------------------------

# ASCII punctuation that starts markup somewhere in GitHub's markdown: escapes, code, emphasis,
# strikethrough, links and images, HTML and autolinks, entities, tables, math. Any ASCII
# punctuation may be backslash-escaped (CommonMark 2.4), so escaping is always safe; these are
# the ones that need it. An underscore inside a word never makes emphasis and is left alone, so
# that type names such as global_avgpool read as they are.
MARKDOWN_SPECIAL = frozenset("\\`*_[]<>&|~$")


def markdown_text(text: str) -> str:
    """Prose or a table cell that shows `visible(text)` and nothing else. Spaces at either
    end are character references, which a table cell keeps and `**bold**` accepts."""
    text = visible(text)
    if any(c in MARKDOWN_SPECIAL for c in text):
        last = len(text) - 1
        out = []
        for i, c in enumerate(text):
            intraword = c == "_" and 0 < i < last and text[i - 1].isalnum() and text[i + 1].isalnum()
            out.append("\\" + c if c in MARKDOWN_SPECIAL and not intraword else c)
        text = "".join(out)
    if text[:1].isspace() or text[-1:].isspace():
        start, end = len(text) - len(text.lstrip()), len(text.rstrip())
        text = "".join(f"&#{ord(c)};" if i < start or i >= end else c for i, c in enumerate(text))
    return text


def markdown_code(text: str) -> str:
    """A code span, inside a table cell, showing `visible(text)` exactly (CommonMark 6.1):
    fenced by more backticks than the longest run inside, padded with a space where the
    content would otherwise lose its own edge (a backtick, or a space at both ends); a pipe
    escaped for the table (GFM 4.10, also inside code spans)."""
    content = visible(text)
    if "`" not in content and "|" not in content and not content.startswith(" "):
        return f"`{content}`"
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    loses_edge = content.startswith("`") or content.endswith("`") or (
        content.startswith(" ") and content.endswith(" ") and content.strip(" ") != ""
    )
    if loses_edge:
        content = f" {content} "
    return fence + content.replace("|", "\\|") + fence


# -- CSV ---------------------------------------------------------------------------------------

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
GUARD = "'"
NEEDS_QUOTES = re.compile('[,"\r\n]')


def csv_text(text: str) -> str:
    """A text cell as CSV writes it: a leading `'` where the text would start a formula in a
    spreadsheet, or already starts with the guard (so that `csv_unguard` is exact); quoted
    (RFC 4180) where it holds a comma, a quote, a line feed or a carriage return. (The csv
    module's writer, with "\n" line ends, leaves a lone "\r" unquoted, and readers then
    split the row there.)"""
    if text.startswith(FORMULA_TRIGGERS + (GUARD,)):
        text = GUARD + text
    return '"' + text.replace('"', '""') + '"' if NEEDS_QUOTES.search(text) else text


def csv_unguard(cell: str) -> str:
    """The text of a cell written by `csv_text`, once a CSV reader has unquoted it."""
    return cell[1:] if cell.startswith(GUARD) else cell


# -- XML ---------------------------------------------------------------------------------------

XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """Character data for XML 1.0: `&`, `<`, `>` as entities, and characters XML forbids
    (most controls, surrogates, U+FFFE, U+FFFF) as `visible` escapes."""
    return xml_escape(XML_FORBIDDEN.sub(lambda m: escaped(m.group()), text))
