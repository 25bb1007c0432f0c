"""JSON (summary, rf, run): the records unformatted, exact integers and fractions as numbers.

`summary_json` is CONTRACT.md section 4 (and `docs/summary.schema.json`); `run_json` is
section 7. Keys and values come from the views in `columns`; strings are escaped by JSON's
own rules (`json.dumps`), so every name reads back exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ..analysis.summary import Summary, conventions
from .columns import RF, RUN, SUMMARY, Context, Medium

# The totals' keys, in the order printed (the Totals record may hold more, for other outputs).
TOTALS = ("params", "trainable_params", "non_trainable_params", "running_stats", "macs", "flops",
          "input_bytes", "activation_bytes", "activation_peak_bytes", "param_bytes", "training_bytes")


def summary_json(summary: Summary) -> dict:
    record = SUMMARY[Medium.JSON].record()
    return {
        "name": summary.name,
        **inputs_json(summary),
        "outputs": list(summary.outputs),
        "layout": summary.layout,
        "batch": summary.batch,
        "dtype": summary.dtype,
        "layers": [record(row) for row in summary.layers],
        "totals": {key: getattr(summary.totals, key) for key in TOTALS},
        "warnings": list(summary.warnings),
        **defaults_json(summary),
    }


def defaults_json(summary: Summary) -> dict:
    """`"defaults": {"keras": [names], "pytorch": [names]}`: the layers whose type takes that
    framework's defaults where the two differ; left out when no layer's type has such."""
    found = conventions(summary)
    return {"defaults": {key: list(names) for key, names in found.items()}} if found else {}


def inputs_json(summary: Summary) -> dict:
    """input_shape for a network of one input; inputs by name when the file names them."""
    named = [name for name, _ in summary.inputs] != ["input"]
    data = {} if summary.input_shape is None else {"input_shape": list(summary.input_shape)}
    if named:
        data["inputs"] = {name: list(shape) for name, shape in summary.inputs}
    return data


def to_json(summary: Summary, depth: int | None = None) -> str:
    """Indented, but each layer on one line: readable, and fast for 100,000 layers (the
    indenting encoder is pure Python; the compact one is C). Every layer, whatever `depth`."""
    data = summary_json(summary)
    parts = []
    for key, value in data.items():  # the contract's order: ..., layers, totals, warnings
        if key == "layers":
            rows = ",\n".join("    " + json.dumps(layer) for layer in value)
            parts.append('  "layers": [\n' + rows + "\n  ]")
        else:
            parts.append(f"  {json.dumps(key)}: " + json.dumps(value, indent=2).replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def rf_json(summary: Summary, measured: Mapping | None = None) -> str:
    context = Context.of(summary, measured)
    record = RF[Medium.JSON].record(context)
    data = {
        "name": summary.name,
        **inputs_json(summary),
        "outputs": list(summary.outputs),
        "layout": summary.layout,
        "layers": [record(row) for row in summary.layers],
        "covers_input_from": context.covering,
        "warnings": list(summary.warnings),
    }
    if measured is not None:
        data["verified"] = all(agrees for _, agrees in measured.values())
    return json.dumps(data, indent=2) + "\n"


def run_json(result) -> str:
    """CONTRACT.md section 7: shapes with the batch dimension."""
    record = RUN[Medium.JSON].record()
    return json.dumps(
        {
            "ok": result.ok,
            "forward_seconds": round(result.forward_seconds, 6),
            "layers": [record(layer) for layer in result.layers],
            "random_weights": list(result.random_weights),
            "warnings": list(result.warnings),
        },
        indent=2,
    ) + "\n"
