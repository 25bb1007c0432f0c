"""`cnncalc train`'s outputs: the table, the JSON document (CONTRACT section 11), the
sweep over batches and its SVG plot (written by hand: no plotting dependency)."""

from __future__ import annotations

import json
from html import escape

from ..analysis.training import Training
from ..units import human, human_bytes

TOTAL_KEYS = ("weights_bytes", "gradients_bytes", "optimizer_bytes", "saved_bytes", "total_bytes", "forward_flops", "backward_flops")


def training_dict(step: Training) -> dict:
    document = {
        "name": step.name,
        "batch": step.batch,
        "optimizer": step.optimizer,
        "precision": step.precision,
        "layers": [
            {"name": r.name, "type": r.type, "saved_bytes": r.saved_bytes, "forward_flops": r.forward_flops, "backward_flops": r.backward_flops}
            for r in step.layers
        ],
        "totals": {key: getattr(step.totals, key) for key in TOTAL_KEYS},
    }
    if step.max_batch is not None:
        document["max_batch"] = step.max_batch
    return document


def training_json(step: Training) -> str:
    return json.dumps(training_dict(step), indent=2) + "\n"


def training_table(step: Training) -> str:
    rows = [("layer", "type", "saved", "forward FLOPs", "backward FLOPs")]
    rows += [(r.name, r.type, human_bytes(r.saved_bytes), human(r.forward_flops), human(r.backward_flops)) for r in step.layers]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [f"{step.name or 'network'}: one training step, batch {step.batch}, {step.optimizer}, {step.precision}"]
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), *(cell.rjust(width) for cell, width in zip(row[2:], widths[2:]))]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    t = step.totals
    lines += [
        "",
        f"weights     {human_bytes(t.weights_bytes):>12}  (buffers included)",
        f"gradients   {human_bytes(t.gradients_bytes):>12}",
        f"optimizer   {human_bytes(t.optimizer_bytes):>12}  ({step.optimizer})",
        f"saved       {human_bytes(t.saved_bytes):>12}  (kept by autograd for the backward pass)",
        f"total       {human_bytes(t.total_bytes):>12}  ({t.total_bytes:,} bytes)",
        f"FLOPs       forward {human(t.forward_flops)}, backward {human(t.backward_flops)}",
    ]
    if step.max_batch is not None:
        lines.append(f"max batch   {step.max_batch} fits in {human_bytes(step.memory_limit)}")
    return "\n".join(lines) + "\n"


def sweep_table(steps: list[Training]) -> str:
    first = steps[0]
    lines = [f"{first.name or 'network'}: one training step by batch, {first.optimizer}, {first.precision}"]
    header = ("batch", "weights", "gradients", "optimizer", "saved", "total")
    rows = [header] + [
        (str(s.batch), *(human_bytes(getattr(s.totals, k)) for k in ("weights_bytes", "gradients_bytes", "optimizer_bytes", "saved_bytes", "total_bytes")))
        for s in steps
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n"


def sweep_json(steps: list[Training]) -> str:
    first = steps[0]
    document = {
        "name": first.name, "optimizer": first.optimizer, "precision": first.precision,
        "sweep": [{"batch": s.batch, "totals": {key: getattr(s.totals, key) for key in TOTAL_KEYS}} for s in steps],
    }
    return json.dumps(document, indent=2) + "\n"


def sweep_svg(steps: list[Training], limit: int | None = None) -> str:
    """Total memory (and what autograd keeps) against the batch, one point per batch; the
    memory limit as a dashed line when given."""
    width, height, left, right, top, bottom = 640, 400, 90, 20, 40, 50
    batches = [s.batch for s in steps]
    highest = max([s.totals.total_bytes for s in steps] + ([limit] if limit else [])) or 1
    widest = max(batches) if max(batches) > min(batches) else min(batches) + 1
    low = min(batches) if max(batches) > min(batches) else min(batches) - 1

    def x(batch: int) -> float:
        return left + (batch - low) / (widest - low) * (width - left - right)

    def y(size: int) -> float:
        return height - bottom - size / highest * (height - top - bottom)

    def line(values, colour: str, label: str) -> str:
        points = " ".join(f"{x(b):.1f},{y(v):.1f}" for b, v in values)
        dots = "".join(f'<circle cx="{x(b):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>' for b, v in values)
        return f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"><title>{escape(label)}</title></polyline>{dots}'

    first = steps[0]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">{escape(first.name or "network")}: training memory by batch ({first.optimizer}, {first.precision})</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">batch</text>',
    ]
    for batch in batches:
        parts.append(f'<text x="{x(batch):.1f}" y="{height - bottom + 16}" text-anchor="middle">{batch}</text>')
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        size = int(highest * fraction)
        parts.append(f'<text x="{left - 6}" y="{y(size) + 4:.1f}" text-anchor="end">{escape(human_bytes(size))}</text>')
    if limit:
        parts.append(f'<line x1="{left}" y1="{y(limit):.1f}" x2="{width - right}" y2="{y(limit):.1f}" stroke="#c00" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{width - right}" y="{y(limit) - 4:.1f}" text-anchor="end" fill="#c00">memory {escape(human_bytes(limit))}</text>')
    parts.append(line([(s.batch, s.totals.total_bytes) for s in steps], "#1f5fbf", "total"))
    parts.append(line([(s.batch, s.totals.saved_bytes) for s in steps], "#e07b00", "saved by autograd"))
    parts.append(f'<text x="{left + 10}" y="{top + 12}" fill="#1f5fbf">total</text>')
    parts.append(f'<text x="{left + 10}" y="{top + 28}" fill="#e07b00">saved by autograd</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
