"""`cnncalc convert` keeps every name it writes a name: whatever hypothesis draws for a
network, block, parameter or layer name, the YAML written reads back to the same network,
and the DSL written either reads back to the same network or is refused (a located error),
never reinterpreted (a name holding '|' once injected layers)."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.source.reading import parse
from cnncalc.source.writers import to_dsl, to_yaml

NAMES = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(["no", "on", "off", "yes", "null", "true", "010", "1:30", "1_000", "a | relu", "x # c",
                     "input", "end", "block", "$w", "a=b", "[1]", "{a: 1}", "'q'", '"q"', "a\nb", "- x"]),
)


def network_of(text: str):
    try:
        return cnncalc.loads(text, format="yaml", path="case.yaml")
    except cnncalc.CnnError:
        return None


def shape_of(net):
    return [(node.name, node.layer.type_name, node.inputs) for node in net.nodes], net.name


@settings(max_examples=150, deadline=None)
@given(network=NAMES, block=NAMES, layer=NAMES, param=NAMES)
def test_names_survive_convert(network, block, layer, param):
    document = {
        "name": network,
        "input": [3, 8, 8],
        "blocks": {block: {"params": {param: 4}, "layers": [{"conv2d": {"out": f"${param}", "kernel": 3}}]}},
        "layers": [{block: None, "name": layer}, "relu"],
    }
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    original = network_of(text)
    if original is None:  # a name cnncalc refuses: nothing to convert
        return
    spec = parse(text, "case.yaml")
    again = cnncalc.loads(to_yaml(spec), format="yaml", path="converted.yaml")
    assert shape_of(again) == shape_of(original)
    try:
        dsl = to_dsl(spec)
    except cnncalc.CnnError as error:
        assert "has no DSL spelling" in error.message and "keep this network in YAML" in error.message
        return
    assert shape_of(cnncalc.loads(dsl, format="dsl", path="converted.dsl")) == shape_of(original)
