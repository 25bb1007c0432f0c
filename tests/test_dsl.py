"""The DSL and `convert`: every example survives YAML -> DSL -> YAML with an identical
summary, random networks printed as DSL read back the same, and random text fails only
with a located CnnError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.cli import main
from cnncalc.errors import CnnError
from cnncalc.source import dsl, yamlformat
from cnncalc.source.writers import to_dsl, to_yaml
from test_properties import conv_stack

ROOT = Path(__file__).resolve().parent.parent
YAML_EXAMPLES = sorted(p for p in [*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/homework/*.yaml")] if not p.stem.endswith("-answers"))


def figures(text: str, format: str) -> dict:
    """The summary document of a network written in YAML or DSL text, but its name."""
    data = cnncalc.summary(cnncalc.loads(text, format=format, path=f"case.{format}")).to_dict()
    data.pop("name")
    return data


@pytest.mark.parametrize("path", YAML_EXAMPLES, ids=lambda p: p.stem)
def test_yaml_to_dsl_to_yaml_keeps_the_network(path):
    original = path.read_text()
    text = to_dsl(yamlformat.read(original, str(path)))
    back = to_yaml(dsl.read(text, "converted.dsl"))
    assert figures(text, "dsl") == figures(original, "yaml") == figures(back, "yaml")
    assert to_dsl(yamlformat.read(back, "back.yaml")) == text  # a fixed point: converting again changes nothing


@pytest.mark.parametrize("path", sorted(ROOT.glob("examples/*.dsl")), ids=lambda p: p.stem)
def test_committed_dsl_versions_match_their_yaml(path):
    """The classics' .dsl files are what `convert` writes (their header comments aside)."""
    yaml_text = path.with_suffix(".yaml").read_text()
    body = "".join(line for line in path.read_text().splitlines(keepends=True) if not line.startswith("#"))
    assert body == to_dsl(yamlformat.read(yaml_text, str(path.with_suffix(".yaml"))))
    assert figures(path.read_text(), "dsl") == figures(yaml_text, "yaml")


# Random networks of every layer type with random attributes round-trip through the DSL
# in test_properties.py, in the same pass that checks they fail only with a located error.


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("abcdxyz0123456789 \n|=:,()[]$#.-_")) | st.characters(), max_size=120))
def test_random_text_fails_only_with_a_located_error(text):
    try:
        cnncalc.loads(text, format="dsl", path="t.dsl")
    except CnnError as exc:
        assert exc.location is not None and exc.location.path == "t.dsl"


def test_the_readme_one_liner():
    result = CliRunner().invoke(main, ["summary", "-e", "input 1x28x28 | conv2d 32 k=3 | relu | maxpool2d 2 | flatten | linear 10", "--format", "json"])
    data = json.loads(result.stdout)
    import torch.nn as nn

    same = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 13 * 13, 10))
    assert result.exit_code == 0 and data["totals"]["params"] == sum(p.numel() for p in same.parameters())


def test_standard_input_is_either_format():
    text = (ROOT / "examples" / "lenet5.dsl").read_text()
    from_dsl = CliRunner().invoke(main, ["summary", "-", "--format", "json"], input=text)
    from_yaml = CliRunner().invoke(main, ["summary", "-", "--format", "json"], input=(ROOT / "examples" / "lenet5.yaml").read_text())
    assert json.loads(from_dsl.stdout)["totals"] == json.loads(from_yaml.stdout)["totals"]


def test_convert_command_both_ways(tmp_path):
    dsl_text = CliRunner().invoke(main, ["convert", str(ROOT / "examples" / "resnet50.yaml"), "--to", "dsl"]).stdout
    assert "block bottleneck width=64 stride=1 project=false" in dsl_text
    assert "layer2: bottleneck width=128 repeat=4 first.project=true first.stride=2" in dsl_text
    (tmp_path / "r.dsl").write_text(dsl_text)
    yaml_text = CliRunner().invoke(main, ["convert", str(tmp_path / "r.dsl"), "--to", "yaml"]).stdout
    assert "  - bottleneck: {width: 128}\n    name: layer2\n    repeat: 4\n    first: {project: true, stride: 2}" in yaml_text
    one_line = CliRunner().invoke(main, ["convert", "-e", "input 3x8x8 | conv2d 4 k=3", "--to", "yaml"]).stdout
    assert one_line == "input: [3, 8, 8]\nlayers:\n  - conv2d: {out: 4, k: 3}\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=conv_stack(), shape=st.tuples(st.integers(1, 4), st.integers(4, 16), st.integers(4, 16)),
       names=st.booleans(), frozen=st.booleans())
def test_valid_stacks_round_trip_through_the_dsl(layers, shape, names, frozen):
    entries = []
    for index, layer in enumerate(layers):
        entry = dict(layer) if isinstance(layer, dict) else {layer: None}
        if names:
            entry["name"] = f"block{index}.layer"
        if frozen and index == 0:
            entry["trainable"] = False
        entries.append(entry)
    document = yaml.safe_dump({"input": list(shape), "layers": entries})
    try:
        spec = yamlformat.read(document, "case.yaml")
        expected = figures(document, "yaml")
    except CnnError:
        return
    event("round trip compared")
    assert figures(to_dsl(spec), "dsl") == expected
