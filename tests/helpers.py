"""Small helpers shared by the tests: run cnncalc in-process on YAML text."""

from __future__ import annotations

import yaml

import cnncalc


def summarise(document, batch: int = 1, path: str = "case.yaml"):
    """The Summary of a network given as a dict (dumped to YAML) or as YAML text."""
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    return cnncalc.summary(cnncalc.loads(text, format="yaml", path=path), batch)
