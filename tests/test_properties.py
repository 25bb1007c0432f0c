"""Properties over random networks: the parser and analysis never fail with anything but a
located CnnError, and what they accept reads back the same from the DSL; channels_last
files give the channels_first figures, permuted; rows sum to the totals; frozen layers
move their parameters to non-trainable."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.errors import CnnError
from cnncalc.layers import REGISTRY
from cnncalc.source import yamlformat
from cnncalc.source.writers import to_dsl
from helpers import summarise

ATTRIBUTE_VALUES = st.one_of(
    st.integers(-3, 9),
    st.lists(st.integers(-1, 5), max_size=4),
    st.sampled_from(["same", "valid", "relu", "x", "3x3", "", "nearest"]),
    st.booleans(),
    st.none(),
    st.floats(-2, 4),
    st.just(float("nan")),
    st.lists(st.lists(st.integers(0, 3), max_size=3), max_size=3),
)


@st.composite
def random_layer(draw):
    cls = draw(st.sampled_from(REGISTRY.types))
    names = [a.name for a in cls.attributes] + ["kernal", "bogus"]
    attrs = draw(st.dictionaries(st.sampled_from(names) if names else st.just("x"), ATTRIBUTE_VALUES, max_size=4))
    form = draw(st.sampled_from(["bare", "mapping", "primary"]))
    if form == "bare":
        return cls.type_name
    if form == "primary":
        return {cls.type_name: draw(ATTRIBUTE_VALUES)}
    return {cls.type_name: attrs}


# A random network: input shape, 1-5 random layers, layout.
RANDOM_NETWORK = dict(
    shape=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    layers=st.lists(random_layer(), min_size=1, max_size=5),
    layout=st.sampled_from(["channels_first", "channels_last"]),
)


def without_name(summary) -> dict:
    data = summary.to_dict()
    data.pop("name")
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**RANDOM_NETWORK)
def test_random_networks_succeed_and_round_trip_or_fail_with_a_located_error(shape, layers, layout):
    """Every layer type with random attributes: a located CnnError, or a summary whose rows
    sum to its totals and which the DSL that `convert` writes gives again (test_dsl.py
    round-trips valid stacks and the examples)."""
    text = yaml.safe_dump({"input": shape, "layout": layout, "layers": layers}, sort_keys=False)
    try:
        summary = summarise(text)
    except CnnError as exc:
        assert exc.location is not None and exc.location.path == "case.yaml"
        assert exc.location.line >= 1 and exc.location.column >= 1
        event("invalid network")
        return
    assert len(summary.layers) == len(layers)
    assert all(min(row.output_shape) >= 1 for row in summary.layers)
    totals = summary.totals
    for column in ("params", "trainable_params", "non_trainable_params", "running_stats", "macs", "flops"):
        assert getattr(totals, column) == sum(getattr(row, column) for row in summary.layers), column
    try:
        dsl_text = to_dsl(yamlformat.read(text, "case.yaml"))
    except CnnError as exc:  # a value the DSL cannot spell is refused, never mangled
        assert "no DSL spelling" in exc.message
        return
    event("round trip compared")
    again = cnncalc.summary(cnncalc.loads(dsl_text, format="dsl", path="case.dsl"))
    assert without_name(again) == without_name(summary), dsl_text


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_random_text_never_escapes_as_anything_but_cnnerror(text):
    try:
        summarise(text)
    except CnnError as exc:
        assert exc.location is not None


def to_last(shape):
    return [*shape[1:], shape[0]]


@st.composite
def conv_stack(draw):
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "pool", "bn", "dw", "up"]))
        if kind == "conv":
            layers.append({"conv2d": {"out": draw(st.integers(1, 6)), "kernel": draw(st.integers(1, 3)),
                                      "stride": draw(st.integers(1, 2)), "padding": draw(st.sampled_from(["same", "valid", 1]))}})
        elif kind == "pool":
            layers.append({"maxpool2d": {"kernel": 2, "padding": draw(st.sampled_from(["same", 0]))}})
        elif kind == "bn":
            layers.append("batchnorm")
        elif kind == "dw":
            layers.append({"depthwise_conv2d": {"kernel": 3, "padding": "same", "multiplier": draw(st.integers(1, 2))}})
        else:
            layers.append({"upsample": 2})
    if draw(st.booleans()):
        layers += ["global_avgpool", {"linear": 3}]
    return layers


@settings(max_examples=60, deadline=None)
@given(layers=conv_stack(), shape=st.tuples(st.integers(1, 4), st.integers(4, 16), st.integers(4, 16)))
def test_channels_last_is_channels_first_permuted(layers, shape):
    try:
        first = summarise({"input": list(shape), "layers": layers})
    except CnnError:
        return
    last = summarise({"input": to_last(list(shape)), "layout": "channels_last", "layers": layers})
    for a, b in zip(first.layers, last.layers):
        expected = to_last(list(a.output_shape)) if len(a.output_shape) > 1 else list(a.output_shape)
        assert list(b.output_shape) == expected
        assert (a.params, a.running_stats, a.macs, a.flops, a.receptive_field) == (b.params, b.running_stats, b.macs, b.flops, b.receptive_field)


@settings(max_examples=40, deadline=None)
@given(layers=conv_stack(), frozen=st.data())
def test_frozen_layers_count_as_non_trainable(layers, frozen):
    entries = [layer if isinstance(layer, dict) else {layer: None} for layer in layers]
    marks = [frozen.draw(st.booleans()) for _ in entries]
    for entry, mark in zip(entries, marks):
        if mark:
            entry["trainable"] = False
    try:
        summary = summarise({"input": [3, 16, 16], "layers": entries})
    except CnnError:
        return
    for row, mark in zip(summary.layers, marks):
        assert row.trainable_params == (0 if mark else row.params)
        assert row.non_trainable_params == (row.params if mark else 0) + row.running_stats


def test_yaml_keys_are_case_insensitive_types_but_exact_attributes():
    summary = summarise(yaml.safe_dump({"input": [3, 8, 8], "layers": [{"CONV2D": {"Filters": 4, "kernel_size": 3}}]}))
    assert summary.layers[0].output_shape == (4, 6, 6)


def test_astronomical_shapes_are_exact_integers():
    """No floating point anywhere in the analysis: sizes far beyond int64 stay exact."""
    big = 10**12
    summary = summarise({"input": [3, big, big], "layers": [
        {"conv2d": {"out": 10**6, "kernel": 10**6 + 1, "stride": 999, "dilation": 7, "padding": "same"}},
        {"conv_transpose2d": {"out": 64, "kernel": 999_999, "stride": 1001, "padding": 3}},
        "global_avgpool", {"linear": 10}]})
    conv = summary.layers[0]
    side = -(-big // 999)  # TensorFlow 'same': ceil(n / s)
    assert conv.output_shape == (10**6, side, side)
    assert conv.macs == 10**6 * side * side * 3 * (10**6 + 1) ** 2
    assert conv.receptive_field.size == (7 * 10**6 + 1,) * 2
    up = summary.layers[1]
    assert up.output_shape[1] == (side - 1) * 1001 - 6 + 999_999
