"""Small helpers shared by the tests: run cnncalc in-process on YAML text; read an expected
output from its file (golden outputs, expected error messages, pictures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

import cnncalc


def summarise(document, batch: int = 1, path: str = "case.yaml"):
    """The Summary of a network given as a dict (dumped to YAML) or as YAML text."""
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    return cnncalc.summary(cnncalc.loads(text, format="yaml", path=path), batch)


def expected_text(path: Path, produced: str, overwrite: bool) -> str:
    """The expected output kept in `path`, to compare `produced` with.

    With `--overwrite` the file is first (re)written from `produced`. Without it, a missing
    file fails the test: an expectation that nobody has reviewed proves nothing.
    """
    path = Path(path)
    if overwrite:
        if not path.exists() or path.read_text(encoding="utf-8") != produced:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(produced, encoding="utf-8")
        return produced
    if not path.exists():
        current = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[0] or "tests"
        pytest.fail(
            f"{path} does not exist: create it from the current output with "
            f"`python -m pytest {current} --overwrite`, then review the new file "
            f"(is every figure and word right?) before committing it",
            pytrace=False,
        )
    return path.read_text(encoding="utf-8")
