"""Homework results as text and JSON: `size`, `solve` and `check`, in the language chosen
(cnncalc.i18n); JSON keys stay English."""

from __future__ import annotations

import json

from ..errors import visible
from ..i18n import tr


def size_text(answer) -> str:
    """The working per axis, then the output; warnings go to standard error."""
    lines = []
    several = len(answer.axes) > 1
    for i, axis in enumerate(answer.axes):
        if several:
            lines.append(tr("size.axis", axis=i + 1))
        lines += axis.working
    lines.append(tr("size.output", output="x".join(map(str, answer.outputs))))
    return "\n".join(lines) + "\n"


def size_json(answer) -> str:
    """CONTRACT.md §6: {"output", "formula", "warnings"}; lists per axis for HxW."""
    one = len(answer.axes) == 1
    formula = "\n".join(answer.axes[0].working) if one else ["\n".join(axis.working) for axis in answer.axes]
    output = answer.outputs[0] if one else list(answer.outputs)
    return json.dumps({"output": output, "formula": formula, "warnings": list(answer.warnings)}, indent=2, ensure_ascii=False) + "\n"


KINDS = {"conv": "solve.kind.conv", "transposed": "solve.kind.transposed", "pool": "solve.kind.pool"}


def solve_text(solutions: list, show_all: bool, kind: str) -> str:
    """Per distinct axis (one block for N or a square HxW): the settings, standard first."""
    lines = []
    for solution in solutions:
        if len(solutions) > 1:
            lines.append(tr("solve.axis", axis=solutions.index(solution) + 1, n_in=solution.n_in, n_out=solution.n_out))
        found = solution.settings
        if not found:
            ranges = solution.ranges
            lines.append(tr("solve.none", kind=tr(KINDS[kind]), kmax=ranges.kernels, smax=ranges.strides, dmax=ranges.dilations,
                            n_in=solution.n_in, n_out=solution.n_out))
            continue
        shown = found if show_all else found[:10]
        lines.append(tr("solve.header", kind=tr(KINDS[kind]), n_in=solution.n_in, n_out=solution.n_out))
        lines += [f"  {setting.describe()}" for setting in shown]
        if len(found) > len(shown):
            lines.append(tr("solve.more", count=len(found) - len(shown)))
    return "\n".join(lines) + "\n"


def solve_json(solutions: list, show_all: bool, kind: str) -> str:
    """A list of settings for N (or a square HxW); for axes that differ, one list per axis."""
    def settings(solution):
        shown = solution.settings if show_all else solution.settings[:10]
        return [{"kernel": s.kernel, "stride": s.stride, "padding": s.padding, "dilation": s.dilation,
                 **({"output_padding": s.output_padding} if kind == "transposed" else {}),
                 "convention": s.convention, "exact": not s.inexact, "holes": s.holes} for s in shown]

    data = settings(solutions[0]) if len(solutions) == 1 else [settings(solution) for solution in solutions]
    return json.dumps(data, indent=2) + "\n"


def marks_text(marks: list) -> str:
    lines = []
    for m in marks:
        given = visible(str(m.given))
        if m.ok:
            lines.append(tr("check.right", layer=visible(m.layer), field=m.field, given=given))
            if m.note:
                lines.append(f"       {visible(m.note)}")
            continue
        lines.append(tr("check.wrong", layer=visible(m.layer), field=m.field, given=given, right=m.right))
        if m.read_as:
            lines.append(f"       {tr('check.read_as', value=visible(m.read_as))}")
        if m.note:
            lines.append(f"       {visible(m.note)}")
        lines += [f"       {visible(line)}" for line in m.working]
    lines.append(tr("check.score", right=sum(m.ok for m in marks), total=len(marks)))
    return "\n".join(lines) + "\n"


def marks_json(marks: list) -> str:
    answers = [
        {"layer": m.layer, "field": m.field, "given": m.given, "read_as": m.read_as, "right": m.right, "ok": m.ok,
         "note": m.note, "working": list(m.working)}
        for m in marks
    ]
    return json.dumps({"score": sum(m.ok for m in marks), "total": len(marks), "answers": answers}, indent=2, default=str,
                      ensure_ascii=False) + "\n"


def _numbers(values) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def loss_text(loss) -> str:
    """The working of the cross-entropy, sample by sample, then the batch mean."""
    lines = [tr("loss.header", target=loss.target)]
    for index, sample in enumerate(loss.samples):
        prefix = tr("loss.sample", index=index) if len(loss.samples) > 1 else ""
        if sample.scores is None:
            lines.append(prefix + tr("loss.already", probabilities=_numbers(sample.probabilities)))
        else:
            lines += [prefix + tr("loss.scores", scores=_numbers(sample.scores)), "  " + tr("loss.softmax"),
                      "  " + tr("loss.probabilities", probabilities=_numbers(sample.probabilities))]
        p = sample.probabilities[loss.target]
        lines.append("  " + tr("loss.value", target=loss.target, p=f"{p:.10g}", loss=f"{sample.loss:.10g}"))
    if len(loss.samples) > 1:
        lines.append(tr("loss.mean", batch=len(loss.samples), loss=f"{loss.mean:.10g}"))
    return "\n".join(lines) + "\n"


def loss_json(loss) -> dict:
    return {"target": loss.target, "loss": loss.mean,
            "samples": [{"probabilities": list(s.probabilities), "loss": s.loss} for s in loss.samples]}
