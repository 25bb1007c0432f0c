"""Small helpers shared by the tests: run cnncalc in-process on YAML text."""

from __future__ import annotations

import yaml

from cnncalc import network, yamlformat
from cnncalc.blocks import expand
from cnncalc.analysis import analyse


def summarise(document, batch: int = 1, path: str = "case.yaml"):
    """The Summary of a network given as a dict (dumped to YAML) or as YAML text."""
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    return analyse(network.build(expand(yamlformat.read(text, path))), batch)
