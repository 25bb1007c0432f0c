"""Layout hints: an input whose channel count looks like a spatial size, or the reverse.

The commonest slip in the course is the order of the axes: Keras writes images (H, W, C),
PyTorch (C, H, W). A file that writes `input: [28, 28, 1]` without `layout:` is read as 28
channels of 28 x 1, which runs (or fails much later) without a word. An image-like input
(two or three spatial axes) whose first axis is a small channel count (at most 4: grey,
grey + alpha, RGB, RGBA) while every other axis is at least 8 in a channels_last file, or
whose last axis is that small while the others are at least 8 in a channels_first file,
gets a warning naming the fix.
"""

from __future__ import annotations

from ..errors import CnnWarning, WarningKind
from ..i18n import tr

CHANNELS = 4  # grey, grey + alpha, RGB, RGBA
SPATIAL = 8


def layout_hints(network) -> tuple[str, ...]:
    hints = []
    for shape in network.inputs.values():
        if len(shape) not in (3, 4):
            continue
        text = "[" + ", ".join(map(str, shape)) + "]"
        if not network.layout.channels_last and shape[-1] <= CHANNELS and min(shape[:-1]) >= SPATIAL:
            reordered = "[" + ", ".join(map(str, (shape[-1], *shape[:-1]))) + "]"
            hints.append(CnnWarning(WarningKind.LAYOUT, tr("hint.channels_last", shape=text, channels=shape[-1], first=shape[0], reordered=reordered)))
        elif network.layout.channels_last and shape[0] <= CHANNELS and min(shape[1:]) >= SPATIAL:
            reordered = "[" + ", ".join(map(str, (*shape[1:], shape[0]))) + "]"
            hints.append(CnnWarning(WarningKind.LAYOUT, tr("hint.channels_first", shape=text, channels=shape[0], last=shape[-1], reordered=reordered)))
    return tuple(hints)
