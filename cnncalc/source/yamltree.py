"""YAML text to a tree of located values.

PyYAML's composed node tree knows where every value starts; plain `safe_load` forgets it.
We compose with the safe loader, then turn each node into a `Node` that keeps its value
and its `Location`, so every later error can point at the user's text. Duplicate keys
(which PyYAML silently merges) are an error here, and the expansion of aliases is bounded
so a "billion laughs" file is refused instead of eating the machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import CnnError, CnnErrors, Location
from ..i18n import tr

MAX_NODES = 1_000_000
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C composer when built in: same marks, 10x faster
MAX_DEPTH = 100


@dataclass
class Node:
    """A YAML value with its position: a scalar, a list of Nodes or a dict of Nodes."""

    value: Any
    location: Location
    key_location: Location | None = field(default=None)

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, list)

    def plain(self) -> Any:
        """The value with all positions stripped (lists and dicts of plain values)."""
        if isinstance(self.value, list):
            return [item.plain() for item in self.value]
        if isinstance(self.value, dict):
            return {key: item.plain() for key, item in self.value.items()}
        return self.value


# YAML's printable characters (YAML 1.1 §5.1, which PyYAML reads): tab, line breaks, and
# everything but the other C0 and C1 controls, DEL, surrogates and U+FFFE/U+FFFF. The DSL
# takes the same set.
UNPRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_printable(text: str, path: str) -> None:
    """A control character (NUL, ESC, DEL, ...) is an error at its own line and column."""
    match = UNPRINTABLE.search(text)
    if match:
        raise CnnError(
            f"control character U+{ord(match.group()):04X} is not allowed; allowed: printable text, tabs and line breaks",
            location_of(text, match.start(), path),
        )


def location_of(text: str, index: int, path: str) -> Location:
    """The line and column of text[index], lines split as str.splitlines splits them (as
    the error's quoted line is found)."""
    lines = text[:index].splitlines(keepends=True)
    if not lines:
        return Location(path, 1, 1)
    last = lines[-1]
    if last.splitlines() != [last]:  # it ends with a line break: index starts the next line
        return Location(path, len(lines) + 1, 1)
    return Location(path, len(lines), len(last) + 1)


MAX_MISTAKES = 20
TUPLE = re.compile(r"(?P<key>[\w.]+)\s*:\s*(?P<tuple>\((?P<items>\s*-?\d+\s*(?:,\s*-?\d+\s*)*,?\s*)\))")
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[\w.]+)\s*:")
ITEM_LINE = re.compile(r"^(?P<indent> *)-\s+\S")


def load(text: str, path: str, tuples_as_lists: bool = False) -> Node:
    """Parse YAML text into a located tree; malformed YAML is a CnnError.

    The commonest slips are said as what to fix, all of them in one run: tabs in the
    indentation, Python tuples such as `kernel_size: (3, 3)` (with `tuples_as_lists`, for
    a student's answers, they are read as the lists they mean; each parenthesis becomes a
    bracket, so every position stays), and keys indented off their layer. Each is mended
    in a copy of the text so that the next, independent one is found too."""
    check_printable(text, path)  # libyaml would say where in bytes, not in lines
    mistakes: list[CnnError] = []
    lines = text.split("\n")
    for number, line in enumerate(lines):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            mistakes.append(CnnError(tr("yaml.tab"), Location(path, number + 1, indent.index("\t") + 1)))
            lines[number] = indent.replace("\t", "  ") + line[len(indent):]
        code = lines[number].split(" #", 1)[0]
        for match in TUPLE.finditer(code):
            start, end = match.span("tuple")
            if code[:start].count('"') % 2 or code[:start].count("'") % 2:
                continue  # inside quotes: text the user meant
            if not tuples_as_lists:
                items = ", ".join(item.strip() for item in match.group("items").split(",") if item.strip())
                mistakes.append(CnnError(tr("yaml.tuple", text=match.group("tuple"), key=match.group("key"), items=items),
                                         Location(path, number + 1, start + 1)))
            line_text = lines[number]
            lines[number] = line_text[:start] + "[" + line_text[start + 1 : end - 1] + "]" + line_text[end:]
    mended = "\n".join(lines)
    while True:
        try:
            root = _compose(mended, path)
            break
        except CnnError as error:
            fix = _indentation(mended, error.location, path) if error.location else None
            if fix is None or len(mistakes) >= MAX_MISTAKES:
                mistakes.append(error)
                root = None
                break
            mistake, mended = fix
            mistakes.append(mistake)
    if mistakes:
        raise mistakes[0] if len(mistakes) == 1 else CnnErrors(sorted(mistakes, key=lambda e: (e.location.line, e.location.column)))
    return root


def _indentation(text: str, where: Location, path: str):
    """(the mistake, the text mended) when the YAML error is a key indented off its layer:
    `name:` under `- conv2d: ...` must line up with `conv2d` (two columns after the dash)."""
    lines = text.split("\n")
    if not 1 <= where.line <= len(lines):
        return None
    for number in (where.line - 1, where.line - 2):  # PyYAML points at the key, or past it
        if number < 1:
            continue
        match = KEY_LINE.match(lines[number])
        item = next((ITEM_LINE.match(lines[i]) for i in range(number - 1, -1, -1) if lines[i].strip()), None)
        if not match or not item or lines[number].lstrip().startswith("-"):
            continue
        want, got = len(item.group("indent")) + 2, len(match.group("indent"))
        if got == want:
            continue
        key = match.group("key")
        message = tr("yaml.indent_layer", key=key, want_spaces=want) if got <= want - 2 else tr(
            "yaml.indent_key", key=key, got=got, want=want + 1, want_spaces=want)
        lines[number] = " " * want + lines[number].lstrip(" ")
        return CnnError(message, Location(path, number + 1, got + 1)), "\n".join(lines)
    return None


def _compose(text: str, path: str):
    try:
        root = yaml.compose(text, Loader=LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at_end = mark is not None and mark.index >= len(text.rstrip())
        if at_end and exc.context_mark is not None:  # "not closed": point where it was opened
            mark = exc.context_mark
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path, 1, 1)
        problem = " ".join(part for part in (exc.context, exc.problem) if part)
        if at_end and exc.context_mark is not None:
            opened = exc.context.removeprefix("while parsing ").removeprefix("a ")
            problem = f"the {opened} started here is never closed: {exc.problem}"
        raise CnnError(tr("yaml.malformed", problem=problem, hint=_hint(text, where.line)), where) from None
    except yaml.YAMLError as exc:
        raise CnnError(f"malformed YAML: {exc}", Location(path, 1, 1)) from None
    except RecursionError:
        raise CnnError(
            f"the YAML is nested too deeply to read; allowed: at most {MAX_DEPTH} levels",
            Location(path, 1, 1),
        ) from None
    if root is None:
        raise CnnError("the file is empty; expected a mapping with 'input' and 'layers'", Location(path, 1, 1))
    return _Converter(path).convert(root, 0)


def _hint(text: str, line: int) -> str:
    """A likely fix for the commonest slip: '- relu' followed by 'name: ...' (needs '- relu:')."""
    lines = text.splitlines()
    previous = next((lines[i] for i in range(line - 2, -1, -1) if lines[i].strip()), "") if line >= 2 else ""
    match = re.match(r"^\s*-\s+([\w.]+)\s*$", previous)
    if match and ":" in (lines[line - 1] if line <= len(lines) else ""):
        word = match.group(1)
        return f"; a layer written '- {word}' cannot take keys below it: write '- {word}:' (with a colon)"
    return ""


IMPLICIT = yaml.resolver.Resolver()  # the tag a plain scalar gets when none is written
BOOL, INT, FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


def yaml11_surprise(tag: str, text: str) -> str | None:
    """Why a plain scalar must not be read as PyYAML reads it (YAML 1.1), or None.

    YAML 1.1 reads yes/no/on/off as booleans, 010 as octal 8, 0b101 as binary, 1:30 as 90
    (base 60) and 1_000 as 1000; YAML 1.2 reads the words as text and 010 as 10. Rather
    than pick one silently, each is refused with both readings."""
    if tag == BOOL and text.lower() not in ("true", "false"):
        return (f"'{text}' means {'true' if text.lower() in ('yes', 'on', 'y') else 'false'} in YAML 1.1 but is text in "
                f"YAML 1.2; allowed: true or false, or '{text}' in quotes for the text")
    if tag not in (INT, FLOAT):
        return None
    digits = text.lstrip("+-")
    if ":" in digits:
        value = yaml.safe_load(text)
        return f"{text} is read as {value} (base 60) by YAML 1.1 and as text by YAML 1.2; allowed: {value}, or quotes for the text"
    if "_" in digits:
        plain = text.replace("_", "")
        return f"{text}: underscores in numbers are YAML 1.1 only; allowed: {plain}"
    if tag == INT and digits.startswith("0b"):
        return f"{text} is binary {yaml.safe_load(text)} in YAML 1.1 and text in YAML 1.2; allowed: {yaml.safe_load(text)}"
    if tag == INT and len(digits) > 1 and digits.startswith("0") and not digits.startswith("0x"):
        octal, decimal = yaml.safe_load(text), int(text, 10)
        return (f"{text} is octal {octal} in YAML 1.1 and {decimal} in YAML 1.2; allowed: {decimal} or {octal} "
                "written without the leading zero")
    return None


class _Converter:
    def __init__(self, path: str):
        self.path = path
        self.count = 0
        self.scalars = yaml.SafeLoader("")

    def where(self, node: yaml.Node) -> Location:
        return Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node: yaml.Node, depth: int) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise CnnError(
                f"the YAML expands to more than {MAX_NODES:,} values (aliases repeated too often?); "
                "refusing to read it",
                self.where(node),
            )
        if depth > MAX_DEPTH:
            raise CnnError(
                f"the YAML is nested more than {MAX_DEPTH} levels deep (a recursive alias?); refusing to read it",
                self.where(node),
            )
        if isinstance(node, yaml.SequenceNode):
            return Node([self.convert(item, depth + 1) for item in node.value], self.where(node))
        if isinstance(node, yaml.MappingNode):
            return Node(self.mapping(node, depth), self.where(node))
        return Node(self.scalar(node), self.where(node))

    def scalar(self, node: yaml.Node):
        """A scalar's value; a tag that does not fit it (`!!int x`) is bad input too, and so
        is a plain scalar that YAML 1.1 (which PyYAML reads) and YAML 1.2 read differently."""
        if not node.style:  # plain (libyaml says '', PyYAML None)
            surprise = yaml11_surprise(node.tag, node.value)
            if surprise:
                raise CnnError(surprise, self.where(node))
        try:
            return self.scalars.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            raise CnnError(f"malformed YAML value: {exc}", self.where(node)) from None

    def mapping(self, node: yaml.MappingNode, depth: int) -> dict[str, Node]:
        result: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                raise CnnError("expected a plain key (a word such as 'kernel')", self.where(key_node))
            # a key is a name: as written, even where YAML 1.1 would read no, on or 010 as a value
            implicit = not key_node.style and key_node.tag == IMPLICIT.resolve(yaml.ScalarNode, key_node.value, (True, False))
            key = key_node.value if implicit else str(self.scalar(key_node))
            if key in result:
                first = result[key].key_location
                raise CnnError(
                    f"key '{key}' is given twice in the same mapping (first at line {first.line}); "
                    "allowed: each key once",
                    self.where(key_node),
                )
            item = self.convert(value_node, depth + 1)
            item.key_location = self.where(key_node)
            result[key] = item
        return result
