"""`summary --format json` against its schema, docs/summary.schema.json (JSON Schema 2020-12).

Every example's document validates; the schema is exact (every object lists all its keys as
required and allows no other), so a key added to or dropped from the output fails here
until the schema, its version and the README say so.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import cnncalc
from cnncalc.analysis.summary import DTYPE_BYTES
from cnncalc.output.columns import SUMMARY, Medium
from cnncalc.output.formats import RENDERERS, Format
from cnncalc.output.json import TOTALS

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "summary.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
NETWORKS = sorted(
    path
    for pattern in ("*.yaml", "*.dsl", "homework/*.yaml")
    for path in (ROOT / "examples").glob(pattern)
    if not path.stem.endswith("-answers")
)
CONTRACT_KEYS = {  # CONTRACT.md section 4
    "document": {"name", "input_shape", "layout", "batch", "layers", "totals", "warnings"},
    "layer": {"name", "type", "inputs", "output_shape", "params", "trainable_params", "non_trainable_params",
              "running_stats", "macs", "flops", "receptive_field"},
    "totals": {"params", "trainable_params", "non_trainable_params", "running_stats", "macs", "flops"},
    "receptive_field": {"size", "stride", "padding"},
}


def document(path: Path, **options) -> dict:
    """What `cnncalc summary PATH --format json` prints, parsed."""
    return json.loads(RENDERERS[Format.JSON](cnncalc.summary(cnncalc.load(path), **options)))


def errors(instance) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(instance)]


def test_the_schema_is_valid_2020_12_and_versioned():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    version = re.fullmatch(r"urn:cnncalc:schema:summary:(\d+)\.(\d+)", SCHEMA["$id"])
    assert version, SCHEMA["$id"]
    assert SCHEMA["title"].endswith(f"version {version[1]}.{version[2]}")


@pytest.mark.parametrize("path", NETWORKS, ids=lambda p: p.relative_to(ROOT / "examples").as_posix())
def test_every_example_validates(path):
    assert errors(document(path)) == []


def test_other_batches_and_dtypes_validate():
    path = ROOT / "examples" / "tiny-resnet.yaml"
    for dtype in DTYPE_BYTES:
        assert errors(document(path, batch=3, dtype=dtype)) == [], dtype


def test_a_vector_input_and_a_nameless_network_validate():
    data = json.loads(RENDERERS[Format.JSON](cnncalc.summary(cnncalc.loads("input 10 | linear 5 | relu", format="dsl"))))
    assert data["name"] is None and data["layers"][0]["receptive_field"] is None
    assert errors(data) == []


def objects(schema: dict, where: str = "#"):
    """Every object schema inside the schema, with where it is."""
    if schema.get("type") == "object":
        yield where, schema
    for key, value in schema.items():
        if isinstance(value, dict):
            yield from objects(value, f"{where}/{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from objects(item, f"{where}/{key}/{i}")


# input_shape or inputs, by the number of inputs and whether they are named; defaults when a
# layer takes Keras's defaults
OPTIONAL = {"input_shape", "inputs", "defaults"}


def test_the_schema_is_exact():
    found = [(where, schema) for where, schema in objects(SCHEMA) if "properties" in schema]
    assert len(found) == 5  # the document, a layer, the totals, a receptive field, the defaults
    for where, schema in found:
        assert schema["additionalProperties"] is False, where
        optional = OPTIONAL if where == "#" else {"pytorch"} if where.endswith("defaults") else set()
        assert sorted(schema["required"]) == sorted(set(schema["properties"]) - optional), where
    assert SCHEMA["anyOf"] == [{"required": ["input_shape"]}, {"required": ["inputs"]}]
    assert SCHEMA["properties"]["inputs"]["additionalProperties"] == {"$ref": "#/$defs/shape"}


def test_the_schema_requires_the_contract_keys():
    defs = SCHEMA["$defs"]
    assert CONTRACT_KEYS["document"] - OPTIONAL <= set(SCHEMA["required"])
    assert CONTRACT_KEYS["document"] <= set(SCHEMA["properties"])
    assert CONTRACT_KEYS["layer"] <= set(defs["layer"]["required"])
    assert CONTRACT_KEYS["totals"] <= set(defs["totals"]["required"])
    assert CONTRACT_KEYS["receptive_field"] <= set(defs["receptive_field"]["required"])
    assert SCHEMA["properties"]["dtype"]["enum"] == list(DTYPE_BYTES)


def test_the_schema_lists_the_json_columns_in_their_order():
    """A layer's keys are the columns of summary's JSON view, in the order printed."""
    layer = SCHEMA["$defs"]["layer"]
    assert list(layer["properties"]) == layer["required"] == [c.value for c in SUMMARY[Medium.JSON].columns]
    assert [key for key in SCHEMA["properties"] if key not in OPTIONAL] == SCHEMA["required"]
    assert list(SCHEMA["$defs"]["totals"]["properties"]) == SCHEMA["$defs"]["totals"]["required"] == list(TOTALS)
    assert list(document(ROOT / "examples" / "lenet5.yaml")) == [key for key in SCHEMA["properties"] if key not in ("inputs", "defaults")]


def test_the_schema_refuses_what_the_output_never_is():
    good = document(ROOT / "examples" / "lenet5.yaml")
    bad = []
    for change in (
        lambda d: d.update(extra=1),
        lambda d: d.pop("warnings"),
        lambda d: d["layers"][0].update(macs=-1),
        lambda d: d["layers"][0].update(macs=1.5),
        lambda d: d["layers"][0].pop("inputs"),
        lambda d: d["layers"][0]["receptive_field"].update(size=[0, 0]),
        lambda d: d["layers"][0]["receptive_field"].pop("center"),
        lambda d: d["totals"].update(params="61706"),
        lambda d: d.update(layout="NCHW"),
        lambda d: d.update(input_shape=[1, 0, 32]),
    ):
        changed = copy.deepcopy(good)
        change(changed)
        bad.append(errors(changed))
    assert errors(good) == []
    assert all(bad), [i for i, found in enumerate(bad) if not found]


def test_several_inputs_outputs_and_parts_validate():
    """inputs by name, outputs, a split's list of shapes (CONTRACT.md section 8)."""
    text = (
        "inputs: {image: [3, 8, 8], meta: [4]}\noutputs: [s.0, s.1, m]\nlayers:\n"
        "  - conv2d: {out: 4, kernel: 3}\n    from: image\n  - split: [2, 2]\n    name: s\n"
        "  - linear: 2\n    from: meta\n    name: m\n"
    )
    data = json.loads(RENDERERS[Format.JSON](cnncalc.summary(cnncalc.loads(text, format="yaml"))))
    assert "input_shape" not in data and data["inputs"] == {"image": [3, 8, 8], "meta": [4]}
    assert data["outputs"] == ["s.0", "s.1", "m"]
    assert data["layers"][1]["output_shape"] == [[2, 6, 6], [2, 6, 6]]
    assert errors(data) == []
    data["layers"][1]["output_shape"] = [[2, 6, 6]]  # a list of shapes holds two or more
    assert errors(data) != []
