"""The Python API (cnncalc.load, loads, summary): the same figures as the CLI, frozen records,
located errors."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def test_the_documented_one_liner_prints_resnet50s_parameters():
    """torchvision's resnet50 has 25,557,032 parameters (its weights' num_params)."""
    code = "import cnncalc; print(cnncalc.summary(cnncalc.load('examples/resnet50.yaml')).totals.params)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout == "25557032\n"


@pytest.mark.parametrize("name", ["lenet5.yaml", "tiny-resnet.yaml", "resnet18.dsl"])
def test_to_dict_is_the_json_of_summary(name):
    path = EXAMPLES / name
    cli = CliRunner().invoke(main, ["summary", str(path), "--format", "json", "--batch", "3"])
    assert cli.exit_code == 0, cli.output
    assert cnncalc.summary(cnncalc.load(path), batch=3).to_dict() == json.loads(cli.stdout)


def test_str_is_the_table_of_summary():
    path = EXAMPLES / "tiny-resnet.yaml"
    cli = CliRunner().invoke(main, ["summary", str(path)])
    assert str(cnncalc.summary(cnncalc.load(path))) == cli.stdout


class Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None


def test_html_lists_every_layer_and_the_totals():
    s = cnncalc.summary(cnncalc.load(EXAMPLES / "lenet5.yaml"))
    html = s._repr_html_()
    parser = Cells()
    parser.feed(html)
    body = [row for row in parser.rows if row and row[0] != "layer"]
    assert [row[0] for row in body] == [layer.name for layer in s.layers]
    assert [row[3] for row in body] == [f"{layer.params:,}" for layer in s.layers]
    assert f"{s.totals.params:,}" in html


def test_records_are_frozen_and_plain():
    s = cnncalc.summary(cnncalc.load(EXAMPLES / "lenet5.yaml"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.totals.params = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.layers[0].name = "x"  # type: ignore[misc]
    assert sum(layer.params for layer in s.layers) == s.totals.params


def test_loads_reads_yaml_and_dsl_alike():
    dsl = "input 1x28x28 | conv2d 8 k=3 | relu | flatten | linear 10"
    yaml_text = "input: [1, 28, 28]\nlayers:\n  - conv2d: {out: 8, kernel: 3}\n  - relu\n  - flatten\n  - linear: 10\n"
    a = cnncalc.summary(cnncalc.loads(dsl))
    b = cnncalc.summary(cnncalc.loads(yaml_text))
    assert a.totals == b.totals
    # conv 8*1*9 + 8 = 80; linear 8*26*26*10 + 10 = 54,090 (PyTorch's own count below)
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 26 * 26, 10))
    assert a.totals.params == sum(p.numel() for p in model.parameters())


def test_input_shape_overrides_the_file():
    s = cnncalc.summary(cnncalc.load(EXAMPLES / "lenet5.yaml", input_shape=(1, 64, 64)))
    assert s.input_shape == (1, 64, 64)
    assert cnncalc.summary(cnncalc.load(EXAMPLES / "lenet5.yaml", input_shape="1x64x64")).layers == s.layers


def test_errors_are_located_cnnerrors():
    with pytest.raises(cnncalc.CnnError) as caught:
        cnncalc.summary(cnncalc.loads("input: [3, 8, 8]\nlayers:\n  - conv2d: {out: 4, kernel: 9}\n", path="net.yaml"))
    assert caught.value.location is not None and caught.value.location.path == "net.yaml"
    assert caught.value.location.line == 3
    assert "the window does not fit" in caught.value.message
    rendered = caught.value.render(cnncalc.sources())
    assert "  - conv2d: {out: 4, kernel: 9}" in rendered and "^" in rendered


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda net: cnncalc.summary(net, batch=0), "batch must be a positive integer; received 0"),
        (lambda net: cnncalc.summary(net, batch=True), "batch must be a positive integer; received True"),
        (lambda net: cnncalc.summary(net, dtype="float8"),
         "unknown dtype 'float8'; allowed: float32, float16, bfloat16, float64, int8"),
        (lambda net: cnncalc.loads("relu", format="toml"), "unknown format 'toml'; allowed: 'yaml', 'dsl' or None (detect)"),
    ],
)
def test_bad_arguments_say_what_is_allowed(call, message):
    net = cnncalc.loads("input 4 | linear 2")
    with pytest.raises(cnncalc.CnnError) as caught:
        call(net)
    assert caught.value.message == message


def test_the_readme_example_prints_what_the_readme_shows(tmp_path):
    """The README's Python block, run as a script from the repository: its output is the
    text block after it."""
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    shown = re.search(r"prints\n\n```text\n(.*?)```", section, re.DOTALL).group(1)
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout == shown
