"""Homework results as text and JSON: `size`, `solve` and `check`."""

from __future__ import annotations

import json

from ..errors import visible


def size_text(answer) -> str:
    """The working per axis, then the output; warnings go to standard error."""
    lines = []
    several = len(answer.axes) > 1
    for i, axis in enumerate(answer.axes):
        if several:
            lines.append(f"axis {i + 1}:")
        lines += axis.working
    lines.append(f"output: {'x'.join(map(str, answer.outputs))}")
    return "\n".join(lines) + "\n"


def size_json(answer) -> str:
    """CONTRACT.md §6: {"output", "formula", "warnings"}; lists per axis for HxW."""
    one = len(answer.axes) == 1
    formula = "\n".join(answer.axes[0].working) if one else ["\n".join(axis.working) for axis in answer.axes]
    output = answer.outputs[0] if one else list(answer.outputs)
    return json.dumps({"output": output, "formula": formula, "warnings": list(answer.warnings)}, indent=2) + "\n"


def solve_text(found: list, shown: list, n_in: int, n_out: int, kind: str) -> str:
    if not found:
        return f"no setting within kernel 1-11, stride 1-4, dilation 1-3 turns {n_in} into {n_out}\n"
    lines = [f"{kind} settings turning {n_in} into {n_out}, simplest first:"]
    lines += [f"  {setting.describe()}" for setting in shown]
    if len(found) > len(shown):
        lines.append(f"  ... {len(found) - len(shown)} more (--all)")
    return "\n".join(lines) + "\n"


def solve_json(found: list, shown: list, n_in: int, n_out: int, kind: str) -> str:
    return json.dumps([
        {"kernel": s.kernel, "stride": s.stride, "padding": s.padding, "dilation": s.dilation,
         "convention": s.convention, "exact": not s.inexact} for s in shown], indent=2) + "\n"


def marks_text(marks: list) -> str:
    lines = []
    for m in marks:
        if m.ok:
            lines.append(f"right  {visible(m.layer)} {m.field}: {visible(str(m.given))}")
            continue
        lines.append(f"WRONG  {visible(m.layer)} {m.field}: you wrote {visible(str(m.given))}, the network gives {m.right}")
        if m.note:
            lines.append(f"       {visible(m.note)}")
        lines += [f"       {visible(line)}" for line in m.working]
    lines.append(f"score: {sum(m.ok for m in marks)}/{len(marks)}")
    return "\n".join(lines) + "\n"


def marks_json(marks: list) -> str:
    answers = [
        {"layer": m.layer, "field": m.field, "given": m.given, "right": m.right, "ok": m.ok, "note": m.note,
         "working": list(m.working)}
        for m in marks
    ]
    return json.dumps({"score": sum(m.ok for m in marks), "total": len(marks), "answers": answers}, indent=2, default=str) + "\n"
