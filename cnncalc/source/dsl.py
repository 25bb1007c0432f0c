"""The compact DSL (CONTRACT.md §3): the same network as YAML, as text.

Grammar (one statement per line, or several separated by `|`; `#` starts a comment):

    network    := statement*
    statement  := 'name' WORD
                | 'input' SHAPE ['channels_last' | 'channels_first'] ['data=' VALUE]
                | 'block' WORD (WORD '=' VALUE)* statement* 'end'
                | layer
    layer      := [NAME ':'] TYPE [VALUE] (KEY '=' VALUE)*
    KEY        := an attribute (kernel, k, filters, ...), or one of the entry keys
                  from, trainable, repeat, if, weight=[...], bias=[...] (inline values;
                  bias=true/false is the attribute), or first.PARAM
    VALUE      := NUMBER | WORD | 'true' | 'false' | 'null' | TUPLE | '$'WORD | '$(' EXPR ')'
                | '(' VALUE (',' VALUE)* ')' | '[' VALUE (',' VALUE)* ']' | WORD (',' WORD)+
    TUPLE      := INTEGER ('x' INTEGER)+                     e.g. 3x3, 1x28x28

`from=a,b` lists several inputs; `first.stride=2` overrides a parameter of a repeated
block's first instance. The text becomes the same located NetworkSpec the YAML reader
makes, so every later error points into the DSL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import CnnError, Location
from ..graph import LayerSpec, NetworkSpec, Written

ENTRY_KEYS = ("from", "trainable", "repeat", "if", "else", "share", "weight", "bias")
MAX_NESTING = 100  # lists inside lists (inline weights), as the YAML reader allows
NUMBER = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
TUPLE = re.compile(r"\d+(x\d+)+")
ATOM = re.compile(r"[\w.\-+]+")  # a run of word characters, classified below
WORD = re.compile(r"[A-Za-z_][\w.\-]*")


@dataclass
class Token:
    kind: str  # word, number, tuple, dollar, symbol, end (of statement), eof
    text: str
    location: Location
    value: Any = None


class Tokenizer:
    def __init__(self, text: str, path: str):
        self.text, self.path = text, path
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        line_number = 0
        for line_number, line in enumerate(self.text.splitlines(), start=1):
            self.line(line, line_number)
        self.tokens.append(Token("eof", "", Location(self.path, line_number + 1, 1)))
        return self.tokens

    def at(self, line: int, column: int) -> Location:
        return Location(self.path, line, column + 1)

    def line(self, text: str, number: int) -> None:
        i = 0
        while i < len(text):
            char = text[i]
            if char in " \t":
                i += 1
            elif char == "#":
                break
            elif char == "|":
                self.tokens.append(Token("end", "|", self.at(number, i)))
                i += 1
            elif char == "$":
                i = self.dollar(text, i, number)
            elif char in "()[],=:":
                self.tokens.append(Token("symbol", char, self.at(number, i)))
                i += 1
            elif match := ATOM.match(text, i):
                atom = match.group()
                if NUMBER.fullmatch(atom):
                    value = float(atom) if any(c in atom for c in ".eE") else int(atom)
                    self.tokens.append(Token("number", atom, self.at(number, i), value))
                elif TUPLE.fullmatch(atom):
                    self.tokens.append(Token("tuple", atom, self.at(number, i), atom))
                elif re.match(r"\w", atom):  # names may start with a digit (Keras's 0_conv)
                    self.tokens.append(Token("word", atom, self.at(number, i), atom))
                else:
                    raise CnnError(f"unexpected '{atom}'; allowed: a name, a number or a size such as 3x3", self.at(number, i))
                i = match.end()
            else:
                raise CnnError(
                    f"unexpected character '{char}'; allowed: layer types, names, numbers, key=value, "
                    "( ) [ ] , : | and # comments",
                    self.at(number, i),
                )
        self.tokens.append(Token("end", "\n", self.at(number, len(text))))

    def dollar(self, text: str, i: int, number: int) -> int:
        """$name or $(expression) with balanced parentheses, one token."""
        if text.startswith("$(", i):
            depth, j = 0, i + 1
            while j < len(text):
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            if depth:
                raise CnnError("the expression $( is never closed; allowed: $(expression) on one line", self.at(number, i))
            self.tokens.append(Token("dollar", text[i : j + 1], self.at(number, i), text[i : j + 1]))
            return j + 1
        match = WORD.match(text, i + 1)
        if not match:
            raise CnnError("a parameter is written $name or $(expression)", self.at(number, i))
        self.tokens.append(Token("dollar", "$" + match.group(), self.at(number, i), "$" + match.group()))
        return match.end()


LITERALS = ("true", "false", "null", "none")  # words read as values
STATEMENTS = ("name", "input", "block", "end")  # words that start statements


def is_word(text: str, name: bool = True) -> bool:
    """Does `text` read back as exactly this one word: a name or type (`name`), or a string
    value? Not a number, a size, a literal, a statement keyword where a statement starts,
    nor anything holding '|', '#', '=', spaces..."""
    reserved = LITERALS + STATEMENTS if name else LITERALS
    if not text or text.lower() in reserved or UNPRINTABLE_OR_BREAK.search(text):
        return False
    try:
        tokens = Tokenizer(text, "").run()
    except CnnError:
        return False
    return [(token.kind, token.text) for token in tokens[:-2]] == [("word", text)] and tokens[-2].kind == "end"


UNPRINTABLE_OR_BREAK = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


class Parser:
    def __init__(self, text: str, path: str):
        self.path = path
        self.tokens = Tokenizer(text, path).run()
        self.index = 0

    # -- token helpers ---------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def symbol(self, char: str) -> bool:
        token = self.peek()
        if token.kind == "symbol" and token.text == char:
            self.index += 1
            return True
        return False

    def expect_word(self, what: str) -> Token:
        token = self.take()
        if token.kind != "word":
            raise CnnError(f"expected {what}; received '{token.text.strip() or 'the end of the line'}'", token.location)
        return token

    def skip_ends(self) -> None:
        while self.peek().kind == "end":
            self.index += 1

    # -- the network -------------------------------------------------------------------------
    def network(self) -> NetworkSpec:
        name, shape, layout, data, outputs = None, None, None, None, None
        named: dict[str, Written] = {}  # input NAME SHAPE lines
        blocks: dict = {}
        layers: list[LayerSpec] = []
        self.skip_ends()
        while self.peek().kind != "eof":
            token = self.peek()
            if token.kind == "word" and token.text == "name" and self.peek(1).kind == "word" and self.peek(2).kind in ("end", "eof"):
                self.take()
                name = self.take().text
            elif token.kind == "word" and token.text == "input" and self.peek(1).kind in ("tuple", "number"):
                self.take()
                shape, layout, data = self.input_line(token)
            elif (token.kind == "word" and token.text == "input" and self.peek(1).kind == "word"
                  and self.peek(2).kind in ("tuple", "number")):
                self.take()
                word = self.take()
                if word.text in named:
                    raise CnnError(f"the input '{word.text}' is given twice; allowed: each input once", word.location)
                given, layout, data = self.input_line(token)
                if data is not None:
                    raise CnnError("data= goes with a single input line; for several inputs use run --data FILE.npz", data.location)
                named[word.text] = Written(given.value, given.location, word.location)
            elif token.kind == "word" and token.text == "outputs" and self.peek(1).kind == "word":
                self.take()
                outputs = self.value()
            elif token.kind == "word" and token.text == "block" and self.peek(1).kind == "word" and self.peek(1).text != ":":
                block = self.block()
                blocks[block.name] = block
            elif token.kind == "word" and token.text == "end":
                raise CnnError("'end' without a block to close", token.location)
            else:
                layers.append(self.layer())
            self.statement_end()
        if shape is not None and named:
            raise CnnError(
                "both an unnamed 'input SHAPE' and named 'input NAME SHAPE' lines; allowed: one unnamed input, or "
                "every input named",
                next(iter(named.values())).key_location,
            )
        if shape is None and not named:
            raise CnnError(
                "the network has no input line; allowed: e.g. 'input 3x224x224' as the first line",
                Location(self.path, 1, 1),
            )
        inputs = None
        if named:
            first = next(iter(named.values()))
            inputs = Written({k: w.value for k, w in named.items()}, first.key_location, None, None, named)
        return NetworkSpec(self.path, shape, layers, name, layout, data, blocks, inputs=inputs, outputs=outputs)

    def statement_end(self) -> None:
        token = self.peek()
        if token.kind not in ("end", "eof"):
            raise CnnError(
                f"unexpected '{token.text}'; a statement ends at the end of the line or at '|'"
                + (" (attributes are written key=value)" if token.kind in ("word", "number", "tuple") else ""),
                token.location,
            )
        self.skip_ends()

    def input_line(self, keyword: Token) -> tuple[Written, Written | None, Written | None]:
        token = self.take()
        value = [int(v) for v in token.text.split("x")] if token.kind == "tuple" else [token.value]
        shape = Written(value, token.location)
        layout, data = None, None
        while self.peek().kind == "word":
            word = self.take()
            if word.text in ("channels_last", "channels_first"):
                layout = Written(word.text, word.location)
            elif word.text in ("layout", "data") and self.symbol("="):
                written = self.value()
                if word.text == "layout":
                    layout = written
                else:
                    data = written
            else:
                raise CnnError(
                    f"unexpected '{word.text}' on the input line; allowed: channels_last, channels_first, data=[...]",
                    word.location,
                )
        return shape, layout, data

    def block(self):
        from .blocks import BlockSpec

        keyword = self.take()
        name = self.take()
        params: dict[str, Written] = {}
        while self.peek().kind == "word" and self.peek(1).kind == "symbol" and self.peek(1).text == "=":
            key = self.take()
            self.take()
            written = self.value()
            written.key_location = key.location
            params[key.text] = written
        self.statement_end()
        layers = []
        while not (self.peek().kind == "word" and self.peek().text == "end" and self.peek(1).kind in ("end", "eof")):
            if self.peek().kind == "eof":
                raise CnnError(f"block '{name.text}' is never closed; allowed: a line 'end' after its layers", keyword.location)
            layers.append(self.layer())
            self.statement_end()
        self.take()
        return BlockSpec(name.text, name.location, params, layers)

    def layer(self) -> LayerSpec:
        name = None
        if self.peek().kind == "word" and self.peek(1).kind == "symbol" and self.peek(1).text == ":":
            token = self.take()
            self.take()
            name = Written(token.text, token.location)
        type_token = self.expect_word("a layer type such as conv2d")
        spec = LayerSpec(type=Written(type_token.text, type_token.location), location=type_token.location, name=name)
        if self.peek().kind not in ("end", "eof") and not self.is_key():
            spec.primary = self.value()
        first: dict[str, Written] = {}
        last: dict[str, Written] = {}
        while self.is_key():
            key = self.take()
            self.take()  # '='
            value = self.value()
            value.key_location = key.location
            word = key.text
            if word.startswith("first."):
                first[word.removeprefix("first.")] = value
            elif word.startswith("last."):
                last[word.removeprefix("last.")] = value
            elif word == "from":
                spec.inputs = value.items if value.items is not None else [value]
            elif word == "trainable":
                spec.trainable = value
            elif word == "repeat":
                spec.repeat = value
            elif word == "if":
                spec.condition = value
            elif word == "else":
                spec.otherwise = value
            elif word == "share":
                spec.share = value
            elif word == "weight" or (word == "bias" and isinstance(value.value, list)):
                spec.tensors[word] = value  # inline values; bias=true/false is the attribute
            else:
                if word in spec.attrs:
                    raise CnnError(f"attribute '{word}' is given twice; allowed: once", key.location)
                spec.attrs[word] = value
        for which, given in (("first", first), ("last", last)):
            if given:
                location = next(iter(given.values())).key_location
                setattr(spec, which, Written({k: w.value for k, w in given.items()}, location, location, None, given))
        return spec

    def is_key(self) -> bool:
        return self.peek().kind == "word" and self.peek(1).kind == "symbol" and self.peek(1).text == "="

    def value(self) -> Written:
        """One value; a bare `a,b` run of words is a list (for from=a,b)."""
        first = self.single()
        if self.peek().kind == "symbol" and self.peek().text == "," and isinstance(first.value, str):
            items = [first]
            while self.symbol(","):
                items.append(self.single())
            return Written([item.value for item in items], first.location, None, items)
        return first

    def single(self, depth: int = 0) -> Written:
        token = self.take()
        if depth > MAX_NESTING:
            raise CnnError(f"values are nested more than {MAX_NESTING} levels deep; allowed: at most {MAX_NESTING}", token.location)
        if token.kind == "number":
            return Written(token.value, token.location)
        if token.kind == "tuple":
            return Written(token.text, token.location)
        if token.kind == "dollar":
            return Written(token.text, token.location)
        if token.kind == "word":
            literal = {"true": True, "false": False, "null": None, "none": None}
            word = token.text.lower()
            return Written(literal[word] if word in literal else token.text, token.location)
        if token.kind == "symbol" and token.text in "([":
            closing = ")" if token.text == "(" else "]"
            items = []
            if not self.symbol(closing):
                while True:
                    items.append(self.single(depth + 1))
                    if self.symbol(closing):
                        break
                    if not self.symbol(","):
                        bad = self.peek()
                        raise CnnError(f"expected ',' or '{closing}' in the list; received '{bad.text.strip() or 'the end of the line'}'", bad.location)
            return Written([item.value for item in items], token.location, None, items)
        raise CnnError(f"expected a value; received '{token.text.strip() or 'the end of the line'}'", token.location)


def read(text: str, path: str) -> NetworkSpec:
    return Parser(text, path).network()
