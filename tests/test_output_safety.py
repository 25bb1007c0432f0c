"""Names from the user's file reach reports inert (issue 20, injection into reports).

Each attack is a name given to the network, to a block and to a layer (which also puts it
in a warning and in another layer's inputs). Every format's output is parsed back as its
reader would: the terminal table has no control character; markdown parses (markdown-it,
GitHub's table rules) into the same tokens as with a plain name, the name a code span
showing it; the CSV parses into the same rows and columns, no text cell starts a formula,
and the name reads back exactly once the guard is removed; the SVG parses as XML; JSON
reads back exactly. Then the same for any name hypothesis draws that the loader accepts.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

import cnncalc
from cnncalc.errors import CnnError
from cnncalc.output.columns import COLUMNS, NOTATION, RF, RUN, SUMMARY, Kind, Medium
from cnncalc.output.csv import rf_csv, to_csv
from cnncalc.output.diagram import funnel_svg, graph_svg
from cnncalc.output.report import SCRIPT, STYLE, report_html
from cnncalc.output.escape import FORMULA_TRIGGERS, csv_unguard, unvisible, visible
from cnncalc.output.formats import stderr_warnings
from cnncalc.output.json import rf_json, run_json, to_json
from cnncalc.output.markdown import rf_markdown, to_markdown
from cnncalc.output.text import rf_table, run_table, to_html, to_table

ATTACKS = {
    "newline and heading": "x\n# injected heading",
    "raw html": "<img src=x onerror=alert(1)>",
    "newline and html": "a\n<script>alert(1)</script>",
    "table pipes": "a|b|c",
    "backticks": "a`b``c",
    "code fence": "```",
    "leading backtick": "`x",
    "emphasis, link, image": "**b** _i_ [l](http://e.x) ![i](x)",
    "entities": "&lt;&#x41;&amp;",
    "math": "$x^2$",
    "formula =": '=HYPERLINK("http://e.x","click")',
    "formula +": "+1+cmd|' /C calc'!A0",
    "formula -": "-2+3+cmd|' /C calc'!A0",
    "formula @": "@SUM(1+1)*cmd|' /C calc'!A0",
    "formula after a tab": "\t=1+1",
    "formula after a CR": "\r=1+1",
    "the guard itself": "'=1+1",
    "terminal colour (CSI)": "\x1b[31mred\x1b[0m",
    "terminal title (OSC)": "\x1b]0;owned\x07",
    "C1 CSI": "\x9b2J",
    "NUL, DEL": "a\x00b\x7f",
    "NEL, line and paragraph separators": "a\x85b\u2028c\u2029",
    "bidi override": "abc\u202edcb\u202c",
    "bidi isolate": "\u2066x\u2069",
    "zero width, BOM": "a\u200bb\ufeff",
    "non-characters": "\ufffe\uffff",
    "backslash escapes as text": "a\\x1b\\n",
    "spaces at both ends": " a ",
    "XML": "]]><x/>&",
    "emoji": "\U0001f642",
}
PLAIN = "plain"
# What must not reach a reader raw: controls (C0, C1, DEL), format characters (bidi
# overrides and isolates, zero-width characters), line and paragraph separators, surrogates.
FORBIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def inert(text: str) -> bool:
    return not any(unicodedata.category(c) in FORBIDDEN for c in text)


def yaml_string(text: str) -> str:
    """A YAML double-quoted scalar holding exactly `text` (every code point but surrogates)."""
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def network_text(name: str) -> str:
    """The network, a block and a layer all called `name`; the layer's pool leaves a row
    unread (a warning naming it) and the next layer reads it (its inputs)."""
    quoted = yaml_string(name)
    return f"""name: {quoted}
input: [1, 7, 7]
blocks:
  {quoted}:
    layers:
      - conv2d: {{out: 2, kernel: 1}}
layers:
  - maxpool2d: 2
    name: {quoted}
  - relu
  - {quoted}: {{}}
    name: blk
  - flatten
  - linear: 3
"""


def load(name: str):
    network = cnncalc.loads(network_text(name))
    return network, cnncalc.summary(network)


def fake_run(name: str):
    layer = SimpleNamespace(name=name, type="maxpool2d", expected_shape=(1, 1, 3, 3), shape=(1, 1, 3, 3), ok=True, seconds=0.001)
    return SimpleNamespace(ok=True, layers=[layer], forward_seconds=0.002, random_weights=(name,), output=np.zeros((1, 3)),
                           warnings=(f"{name}: a warning",))


# -- each format, parsed back ------------------------------------------------------------------


def terminal_outputs(network, summary, name) -> list[str]:
    return [
        to_table(summary, None, width=1000),
        to_table(summary, 0, width=1000),
        to_table(summary, None, width=40),  # long cells folded onto more lines
        rf_table(summary, None, width=1000),
        rf_table(summary, {name: ((2, 2), False)}, width=1000),
        run_table(fake_run(name), network.name, width=1000),
        "".join(f"warning: {w}\n" for w in stderr_warnings("table", summary.warnings)),
    ]


def check_terminal(network, summary, name):
    for text in terminal_outputs(network, summary, name):
        for line in text.split("\n"):
            assert inert(line), ascii(line)
    shown = terminal_outputs(network, summary, name)[0]
    assert shown.startswith(visible(name) + ": input (1, 7, 7)")
    assert unvisible(visible(name)) == name


MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def token_shape(text: str) -> list:
    """The markdown's tokens, with each inline reduced to its non-text children."""
    return [(t.type, tuple(c.type for c in t.children or () if c.type != "text")) for t in MARKDOWN.parse(text)]


def table_rows(text: str) -> list[list[list[str]]]:
    """Pipe tables as GitHub splits them: cells at unescaped pipes."""
    tables, rows = [], []
    for line in text.split("\n") + [""]:
        if not line.startswith("|"):
            if rows:
                tables.append(rows)
            rows = []
            continue
        cells, cell, i = [], "", 1
        while i < len(line):
            if line[i] == "\\":
                cell, i = cell + line[i : i + 2], i + 2
            elif line[i] == "|":
                cells, cell, i = cells + [cell.strip()], "", i + 1
            else:
                cell, i = cell + line[i], i + 1
        rows.append(cells)
    return tables


def check_markdown(summary, plain_summary, name):
    for render, args in ((to_markdown, (None,)), (to_markdown, (0,)), (rf_markdown, (None,))):
        text, plain = render(summary, *args), render(plain_summary, *args)
        assert token_shape(text) == token_shape(plain)
        tokens = MARKDOWN.parse(text)
        assert not any(t.type.startswith(("html", "heading")) for t in tokens)
        lines, plain_lines = text.split("\n"), plain.split("\n")
        assert len(lines) == len(plain_lines)
        assert [line[:1] for line in lines] == [line[:1] for line in plain_lines]  # no '#' or '<' line added
        assert [[len(row) for row in table] for table in table_rows(text)] == [[len(row) for row in table] for table in table_rows(plain)]
        codes = [c.content for t in tokens if t.type == "inline" for c in t.children if c.type == "code_inline"]
        assert codes[0] == visible(name)  # the first layer's name, shown exactly


def check_csv(summary, name):
    for text, rows_expected in ((to_csv(summary, None), len(summary.layers) + 2), (rf_csv(summary, None), len(summary.layers) + 1)):
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) == rows_expected
        assert {len(row) for row in rows} == {len(rows[0])}
        header = rows[0]
        for row in rows[1:]:
            for key, cell in zip(header, row):
                assert not cell.startswith(FORMULA_TRIGGERS), (key, cell)
        assert csv_unguard(rows[1][0]) == name
    folded = list(csv.DictReader(io.StringIO(to_csv(summary, 0))))
    assert csv_unguard(folded[0]["name"]) == name and csv_unguard(folded[2]["type"]) == name
    assert csv_unguard(folded[1]["inputs"]) == name


def check_svg(network, summary, plain_network, plain_summary):
    for draw, depth in ((graph_svg, None), (graph_svg, 0), (funnel_svg, None)):
        root = ET.fromstring(draw(network, summary, depth))
        plain = ET.fromstring(draw(plain_network, plain_summary, depth))
        assert [e.tag for e in root.iter()] == [e.tag for e in plain.iter()]
        for element in root.iter("{http://www.w3.org/2000/svg}text"):
            assert inert(element.text), ascii(element.text)


def check_json(summary, name):
    data = json.loads(to_json(summary))
    assert data["name"] == name and data["layers"][0]["name"] == name and data["layers"][1]["inputs"] == [name]
    assert data["warnings"][0].startswith(name + ": ")
    assert json.loads(rf_json(summary, {name: ((2, 2), True)}))["layers"][0]["name"] == name
    run = json.loads(run_json(fake_run(name)))
    assert run["layers"][0]["name"] == name and run["random_weights"] == [name]


class Tags(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def check_html(summary, plain_summary, name):
    parsed, plain = Tags(to_html(summary, 0)), Tags(to_html(plain_summary, 0))
    assert parsed.tags == plain.tags
    assert all(inert(text) for text in parsed.text)
    assert visible(name) in "".join(parsed.text)


def check_report(network, summary, plain_network, plain_summary, name):
    parsed = Tags(report_html(network, summary))
    plain = Tags(report_html(plain_network, plain_summary))
    assert [(tag, [key for key, _ in attrs]) for tag, attrs in parsed.tags] == [
        (tag, [key for key, _ in attrs]) for tag, attrs in plain.tags
    ]  # the same elements (attribute values hold names and sort keys)
    own = (STYLE, SCRIPT, "\n")  # the page's own code, and the line breaks between its SVGs' elements
    assert all(inert(text) for text in parsed.text if text not in own)
    assert visible(name) in "".join(parsed.text)


def check_every_format(name: str):
    network, summary = load(name)
    plain_network, plain_summary = load(PLAIN)
    assert summary.name == name and summary.layers[0].name == name
    check_terminal(network, summary, name)
    check_markdown(summary, plain_summary, name)
    check_csv(summary, name)
    check_svg(network, summary, plain_network, plain_summary)
    check_json(summary, name)
    check_html(summary, plain_summary, name)


@pytest.mark.parametrize("name", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_names_come_out_inert(name):
    check_every_format(name)
    network, summary = load(name)
    check_report(network, summary, *load(PLAIN), name)  # the report draws both pictures again: here only


def test_the_plain_name_is_shown_as_it_is():
    network, summary = load(PLAIN)
    assert "| 1 | `plain` | maxpool2d | (1, 3, 3) |" in to_markdown(summary)
    assert to_csv(summary).splitlines()[1].startswith("plain,maxpool2d,input,1x3x3,")
    assert to_table(summary).startswith("plain: input (1, 7, 7)")


def test_each_medium_escapes_as_documented():
    name = "=a|b`\n\x1b"
    network, summary = load(name)
    assert "| 1 | ``=a\\|b`\\n\\x1b`` | maxpool2d |" in to_markdown(summary)
    assert to_csv(summary).split("\n", 1)[1].startswith("\"'=a|b`\n\x1b\",maxpool2d,")
    assert to_table(summary, width=1000).splitlines()[3].split() == ["=a|b`\\n\\x1b", "maxpool2d", "(1,", "3,", "3)", "-", "-", "2", "2"]
    assert "<text" in graph_svg(network, summary) and "=a|b`\\n\\x1b · maxpool2d" in graph_svg(network, summary)


def test_warnings_go_to_stderr_only_where_the_document_has_no_place_for_them():
    network, summary = load("x\x1b")
    assert stderr_warnings("json", summary.warnings) == () and stderr_warnings("markdown", summary.warnings) == ()
    assert stderr_warnings("table", summary.warnings) == stderr_warnings("csv", summary.warnings)
    assert stderr_warnings("csv", summary.warnings)[0].startswith("x\\x1b: along H")
    assert "- warning: x\\\\x1b: along H" in to_markdown(summary) and "- warning: x\\\\x1b: along H" in rf_markdown(summary)


def test_every_column_of_every_view_has_a_notation_in_its_medium():
    for views in (SUMMARY, RF, RUN):
        for medium, view in views.items():
            for column in view.columns:
                assert medium in NOTATION[COLUMNS[column].kind], (medium, column)


@pytest.mark.parametrize("medium", [m for m in Medium if m is not Medium.JSON], ids=lambda m: m.value)
@pytest.mark.parametrize("kind", [Kind.NAME, Kind.TEXT, Kind.NAMES], ids=lambda k: k.value)
def test_user_text_is_escaped_in_every_medium_but_json(medium, kind):
    """Whatever column user text lands in, its notation escapes it."""
    attack = "\x1b[2J\n<b>|\u202e"
    shown = NOTATION[kind][medium]([attack, attack] if kind is Kind.NAMES else attack)
    if medium is Medium.CSV:
        assert next(csv.reader(io.StringIO(shown))) == [" ".join([attack] * (2 if kind is Kind.NAMES else 1))]
        return
    assert inert(shown) and "\n" not in shown
    if medium is Medium.MARKDOWN:
        tokens = MARKDOWN.parse(f"| x |\n|---|\n| {shown} |\n")
        assert [t.type for t in tokens].count("tr_open") == 2
        assert not any(c.type.startswith("html") for t in tokens for c in t.children or ())
    if medium is Medium.HTML:
        assert "<" not in shown


SHARP = "\x1b\x9b\x00\x7f\x85\u2028\u202e\u2066\u200b\ufeff\uffff\n\r\t \u00a0|`*_[]()<>&#!$\\'\"=+-@:."
NAMES = st.text(st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(SHARP)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(NAMES)
def test_any_name_the_loader_accepts_comes_out_inert_and_unchanged(name):
    try:
        load(name)
    except CnnError:
        reject()
    check_every_format(name)
