"""A small tree of Python code, and the one function that writes it out (`render`).

The exporters build a module from these nodes and never paste strings together, so that no
text taken from a network file can end up as code:

- every name is checked when its node is made: a Python identifier, not a keyword, and spelled
  as Python reads it back (NFKC-normalised: Python would read `ﬁ` as `fi`);
- every string literal is written by Python's own escaping (`repr`);
- every docstring escapes the backslashes, double quotes and invisible characters of its text,
  so its text cannot close it, and `ast.literal_eval` of it gives the text back;
- names made from a file's text (`Namespace.fresh`) are also not builtins, not the module's own
  names, and not `__private`, so they cannot shadow what the generated code uses.

Layout (black's, with the exporters' line-length rule): a call that may wrap (`wraps`) stays on
one line while its hang plus its own length is at most LINE, else it takes one argument per line,
indented four spaces past its hang: the statement's indentation (also for a call inside a
container), or, for an `aligned` assignment, the column where the value starts (see Assign).
Exploded calls and displays (the PyTorch containers) always take one item per line, nested by
their own depth. These are the rules the first exporter wrote by hand; its files read the same.
"""

from __future__ import annotations

import ast
import builtins
import functools
import keyword
import math
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

from ..layers.code import HELPERS, Raw
from ..layers.code import Call as Record

LINE = 99  # longest line before a wrapping call's arguments go one per line

# Names every generated module may read: Python's keywords and builtins, and `self` (not
# builtins' _private names, which differ between an interpreter and a script).
PYTHON_WORDS = frozenset([*keyword.kwlist, *(n for n in dir(builtins) if not n.startswith("_")), "self"])
# Names the generated modules import or define at their top level: the frameworks' and the
# helpers'. Names made from a file's text never take them.
FRAMEWORK_NAMES = frozenset({"torch", "nn", "F", "keras", "layers", *HELPERS})


@functools.lru_cache(maxsize=4096)
def is_identifier(text: str) -> bool:
    """A name Python reads back as written: an identifier, not a keyword, NFKC-normal."""
    return (
        isinstance(text, str)
        and text.isidentifier()
        and not keyword.iskeyword(text)
        and unicodedata.normalize("NFKC", text) == text
    )


class CodeError(ValueError):
    """A node made with something that is not code (a bug in an exporter, never a user's)."""


def checked(text: str) -> str:
    if not is_identifier(text):
        raise CodeError(f"not a Python name: {text!r}")
    return text


# -- expressions ---------------------------------------------------------------------------------


class Expr:
    """Base of the expression nodes."""


@dataclass(frozen=True)
class Name(Expr):
    id: str

    def __post_init__(self):
        checked(self.id)


@dataclass(frozen=True)
class Attribute(Expr):
    value: Expr
    attr: str

    def __post_init__(self):
        checked(self.attr)


@dataclass(frozen=True)
class Subscript(Expr):
    value: Expr
    index: Expr


@dataclass(frozen=True)
class Literal(Expr):
    """A value written as Python reads it back: None, bools, ints, floats, strings, and
    tuples or lists of those."""

    value: Any

    def __post_init__(self):
        object.__setattr__(self, "text", literal(self.value))  # refuses anything else now, not when rendering


@dataclass(frozen=True)
class Call(Expr):
    """func(*args, **kwargs). `wraps`: may take one argument per line when too long (the
    constructor calls); `exploded`: always one argument per line (the PyTorch containers)."""

    func: Expr
    args: tuple[Expr, ...] = ()
    kwargs: tuple[tuple[str, Expr], ...] = ()
    wraps: bool = False
    exploded: bool = False

    def __post_init__(self):
        for key, _ in self.kwargs:
            checked(key)


@dataclass(frozen=True)
class Starred(Expr):
    """*value: an iterable unpacked into a call's arguments."""

    value: Expr


@dataclass(frozen=True)
class ListComp(Expr):
    """[element for target in iterable]."""

    element: Expr
    target: str
    iterable: Expr

    def __post_init__(self):
        checked(self.target)


@dataclass(frozen=True)
class ListDisplay(Expr):
    items: tuple[Expr, ...]
    exploded: bool = False


@dataclass(frozen=True)
class DictDisplay(Expr):
    """{key: value} with string keys, one pair per line (nn.ModuleDict's argument)."""

    pairs: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class Template(Expr):
    """A layer's forward expression (TorchOp.expression): cnncalc's own code with holes
    ({m}, {x}, ...) that are filled with rendered nodes. The text is checked to be one
    Python expression once its holes are filled."""

    text: str
    holes: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class Joined(Expr):
    """Several expressions separated by commas (a template's {xs})."""

    items: tuple[Expr, ...]


def dotted(path: str) -> Expr:
    """`nn.Conv2d` as Name and Attribute nodes (each part checked)."""
    first, *rest = path.split(".")
    node: Expr = Name(first)
    for part in rest:
        node = Attribute(node, part)
    return node


def from_record(record: Record, parameters: dict[int, str] | None = None) -> "Call":
    """A layer's constructor call (its record from layers/code.py): literal arguments, or
    code for a Raw (a class passed as an argument), or the enclosing class's parameter where
    `parameters` names one (by the argument's index); it wraps when too long."""
    parameters = parameters or {}
    values: list[Expr] = []
    for index, (_, value) in enumerate(record.arguments()):
        if index in parameters:
            values.append(Name(parameters[index]))
        else:
            values.append(dotted(value.code) if isinstance(value, Raw) else Literal(value))
    count = len(record.args)
    kwargs = tuple((key, value) for (key, _), value in zip(record.kwargs, values[count:]))
    return Call(dotted(record.callee), tuple(values[:count]), kwargs, wraps=True)


# -- statements ----------------------------------------------------------------------------------


class Statement:
    """Base of the statement nodes."""


@dataclass(frozen=True)
class Assign(Statement):
    """targets = value. `aligned` (the Keras exporter's layout): a wrapped call in the value
    hangs from the column where the value starts, counted from the start of the statement's
    line, and its lines are then indented with the statement."""

    targets: tuple[Expr, ...]
    value: Expr
    aligned: bool = False


@dataclass(frozen=True)
class Expression(Statement):
    value: Expr


@dataclass(frozen=True)
class Return(Statement):
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class Docstring(Statement):
    """Text shown as a docstring, one line per item; a line's own newlines and other
    invisible characters are escaped, so each item stays one line of the file. An empty
    last line puts the closing quotes on a line of their own."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class Function(Statement):
    name: str
    params: tuple[str, ...]
    body: tuple[Statement, ...]

    def __post_init__(self):
        checked(self.name)
        for param in self.params:
            checked(param)


@dataclass(frozen=True)
class Class(Statement):
    """A class: its docstring, then its methods, one blank line apart."""

    name: str
    bases: tuple[Expr, ...]
    docstring: Docstring
    methods: tuple[Function, ...]

    def __post_init__(self):
        checked(self.name)


@dataclass(frozen=True)
class MainGuard(Statement):
    """if __name__ == "__main__": body."""

    body: tuple[Statement, ...]


@dataclass(frozen=True)
class Import(Statement):
    """import module [as alias], or from module import name (with `name`)."""

    module: str
    alias: str | None = None
    name: str | None = None

    def __post_init__(self):
        for part in self.module.split("."):
            checked(part)
        for other in (self.alias, self.name):
            if other is not None:
                checked(other)


@dataclass(frozen=True)
class Verbatim(Statement):
    """Code written by cnncalc itself (a helper class or function), checked to parse; never
    text from a network file."""

    source: str

    def __post_init__(self):
        ast.parse(self.source)


@dataclass(frozen=True)
class Module(Statement):
    """A module: its docstring, its imports, then each statement two blank lines apart."""

    docstring: Docstring
    imports: tuple[Import, ...]
    body: tuple[Statement, ...]


# -- names made from a file's text ---------------------------------------------------------------


class Namespace:
    """The names of one scope of a generated module: those it must not take (Python's words,
    the module's own names, `reserved`) and those it has taken."""

    def __init__(self, reserved: Iterable[str] = (), taken: Iterable[str] = ()):
        self.reserved = PYTHON_WORDS | frozenset(reserved)
        self.taken: set[str] = set(taken)

    def allows(self, name: str) -> bool:
        """A name this scope may take: it reads back as written, is not reserved, is not
        `__private` (Python would mangle it inside a class), and is free."""
        return is_identifier(name) and name not in self.reserved and not name.startswith("__") and name not in self.taken

    def take(self, name: str) -> str:
        self.taken.add(checked(name))
        return name

    def claim(self, name: str, alternatives: Iterable[str] = ()) -> str:
        """`name` if this scope allows it, else the first allowed alternative, else the name
        made safe (`fresh`)."""
        for candidate in (name, *alternatives):
            if self.allows(candidate):
                return self.take(candidate)
        return self.fresh(name)

    def fresh(self, text: str) -> str:
        """A new name made from any text: 'layer1.0.conv1' -> 'conv1' (its last part, or x;
        the whole text when the last part starts with a digit, x_ before it when that does
        too), a trailing _ after a reserved word, then _2, _3, ... while it is taken."""
        base = word(text.split(".")[-1]) or "x"
        if base[0].isdigit():
            base = word(text)
            base = base if not base[0].isdigit() else f"x_{base}"
        if not base.isidentifier():  # it starts with a character that only continues a name
            base = f"x_{base}"
        if keyword.iskeyword(base) or base in self.reserved:
            base += "_"
        if not is_identifier(base):
            base = "x"
        candidate, counter = base, 2
        while not self.allows(candidate):
            candidate, counter = f"{base}_{counter}", counter + 1
        return self.take(candidate)


def word(text: str) -> str:
    """The text with each run of characters a Python name cannot hold turned into one _,
    without leading or trailing _ (read as Python reads names: NFKC)."""
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    for char in text:
        if ("a" + char).isidentifier():
            out.append(char)
        elif not out or out[-1] != "\0":
            out.append("\0")
    return "".join(out).replace("\0", "_").strip("_")


# -- rendering -----------------------------------------------------------------------------------


def string(value: str) -> str:
    """A string literal by Python's own escaping (repr), in double quotes where the text
    has none (black's preference): repr only uses single quotes for text with no quote or
    with both kinds, so swapping the quotes of a text without " changes nothing else."""
    text = repr(value)
    if text[0] == "'" and '"' not in value:
        text = '"' + text[1:-1] + '"'
    return text


def literal(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        value = float(value)
        return repr(value) if math.isfinite(value) else f'float("{value!r}")'
    if isinstance(value, str):
        return string(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise CodeError(f"not a literal: {value!r}")


def docstring_line(text: str) -> str:
    """One line of a docstring: backslashes and double quotes escaped (so no text can close
    the docstring or change what follows), invisible characters as Python escapes them."""
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])
    return "".join(out)


@dataclass(frozen=True)
class Place:
    """Where an expression is written: the indentation of its line, and the indentation a
    wrapped call hangs from."""

    indent: int
    hang: int

    def deeper(self) -> "Place":
        return Place(self.indent + 4, self.hang)


def expression(node: Expr, place: Place) -> str:
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Attribute):
        return f"{expression(node.value, place)}.{node.attr}"
    if isinstance(node, Subscript):
        return f"{expression(node.value, place)}[{expression(node.index, place)}]"
    if isinstance(node, Literal):
        return node.text
    if isinstance(node, Call):
        return call(node, place)
    if isinstance(node, Starred):
        return "*" + expression(node.value, place)
    if isinstance(node, ListComp):
        return f"[{expression(node.element, place)} for {node.target} in {expression(node.iterable, place)}]"
    if isinstance(node, ListDisplay):
        if not node.exploded:
            return "[" + ", ".join(expression(item, place) for item in node.items) + "]"
        inner = place.deeper()
        body = "".join(f"{' ' * inner.indent}{expression(item, inner)},\n" for item in node.items)
        return f"[\n{body}{' ' * place.indent}]"
    if isinstance(node, DictDisplay):
        inner = place.deeper()
        body = "".join(f"{' ' * inner.indent}{string(key)}: {expression(value, inner)},\n" for key, value in node.pairs)
        return f"{{\n{body}{' ' * place.indent}}}"
    if isinstance(node, Joined):
        return ", ".join(expression(item, place) for item in node.items)
    if isinstance(node, Template):
        text = node.text.format(**{key: expression(value, place) for key, value in node.holes})
        try:
            ast.parse(text, mode="eval")
        except SyntaxError:
            raise CodeError(f"a forward expression that is not one expression: {text!r}") from None
        return text
    raise CodeError(f"not an expression node: {node!r}")


def call(node: Call, place: Place) -> str:
    func = expression(node.func, place)
    if node.exploded:
        inner = place.deeper()
        body = "".join(f"{' ' * inner.indent}{expression(arg, inner)},\n" for arg in node.args)
        return f"{func}(\n{body}{' ' * place.indent})"
    if len(node.args) == 1 and not node.kwargs and exploded_display(node.args[0]):
        # the only argument is an exploded display: it takes the lines in between, with no
        # trailing comma (black's right-hand split)
        inner = place.deeper()
        return f"{func}(\n{' ' * inner.indent}{expression(node.args[0], inner)}\n{' ' * place.indent})"
    parts = [expression(arg, place) for arg in node.args]
    parts += [f"{key}={expression(value, place)}" for key, value in node.kwargs]
    line = f"{func}({', '.join(parts)})"
    if not node.wraps or place.hang + len(line) <= LINE:
        return line
    pad = " " * (place.hang + 4)
    return f"{func}(\n" + "".join(f"{pad}{part},\n" for part in parts) + " " * place.hang + ")"


def exploded_display(node: Expr) -> bool:
    return isinstance(node, DictDisplay) or isinstance(node, ListDisplay) and node.exploded


def statement(node: Statement, indent: int) -> list[str]:
    """The lines of one statement at this indentation."""
    pad = " " * indent
    if isinstance(node, Assign):
        targets = ", ".join(expression(t, Place(indent, indent)) for t in node.targets)
        if node.aligned:  # laid out from the statement's start, then indented with it
            text = f"{targets} = {expression(node.value, Place(0, indent + len(targets) + 3))}"
            return [pad + line for line in text.split("\n")]
        return [f"{pad}{targets} = {expression(node.value, Place(indent, indent))}"]
    if isinstance(node, Expression):
        return [f"{pad}{expression(node.value, Place(indent, indent))}"]
    if isinstance(node, Return):
        return [f"{pad}return " + ", ".join(expression(v, Place(indent, indent)) for v in node.values)]
    if isinstance(node, Docstring):
        lines = [docstring_line(line) for line in node.lines]
        out = [f'{pad}"""{lines[0]}']
        out += [f"{pad}{line}" if line else "" for line in lines[1:]]
        out[-1] = (out[-1] or pad) + '"""'
        return out
    if isinstance(node, Function):
        out = [f"{pad}def {node.name}({', '.join(node.params)}):"]
        for inner in node.body:
            out += statement(inner, indent + 4)
        return out
    if isinstance(node, Class):
        bases = ", ".join(expression(b, Place(indent, indent)) for b in node.bases)
        out = [f"{pad}class {node.name}({bases}):", *statement(node.docstring, indent + 4)]
        for method in node.methods:
            out += ["", *statement(method, indent + 4)]
        return out
    if isinstance(node, MainGuard):
        out = [f'{pad}if __name__ == "__main__":']
        for inner in node.body:
            out += statement(inner, indent + 4)
        return out
    if isinstance(node, Import):
        if node.name is not None:
            return [f"{pad}from {node.module} import {node.name}"]
        return [f"{pad}import {node.module}" + (f" as {node.alias}" if node.alias else "")]
    if isinstance(node, Verbatim):
        return [pad + line if line else "" for line in node.source.splitlines()]
    raise CodeError(f"not a statement node: {node!r}")


def render(module: Module) -> str:
    """The module's text: its docstring, a blank line, its imports, then each statement
    after two blank lines; a newline at the end."""
    header = [*statement(module.docstring, 0), ""]
    for item in module.imports:
        header += statement(item, 0)
    parts = ["\n".join(header)] + ["\n".join(statement(item, 0)) for item in module.body]
    return "\n\n\n".join(parts) + "\n"


def nodes(tree: Any) -> list:
    """Every node of a tree (and of tuples of nodes), parents first."""
    found: list = []
    pending = [tree]
    while pending:
        item = pending.pop()
        if isinstance(item, tuple):
            pending.extend(reversed(item))
        elif isinstance(item, (Expr, Statement)):
            found.append(item)
            pending.extend(getattr(item, name) for name in reversed(item.__dataclass_fields__))
    return found


class Holes(dict):
    def __missing__(self, key: str) -> str:
        return "_"


@functools.lru_cache(maxsize=None)
def names_read(template: str) -> frozenset[str]:
    """The global names a forward expression's template reads (F, torch, ...), from its
    parsed code (each hole read as a name of its own)."""
    tree = ast.parse(template.format_map(Holes()), mode="eval")
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id != "_")
