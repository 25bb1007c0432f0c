"""Each example's `summary --format json` against its golden file (tests/golden/NAME.json).

Regenerate with `pytest tests/test_golden.py --overwrite` and review the diff: the
figures themselves are checked against published values in test_reference.py and
against PyTorch in test_torch_oracle.py; these files catch any unintended change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnncalc.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_json(path, monkeypatch, overwrite):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["summary", path.relative_to(ROOT).as_posix(), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    produced = json.loads(result.stdout)
    golden = ROOT / "tests" / "golden" / f"{path.stem}.json"
    if overwrite or not golden.exists():
        golden.write_text(json.dumps(produced, indent=2) + "\n")
    assert produced == json.loads(golden.read_text())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_totals_are_the_column_sums(path):
    result = CliRunner().invoke(main, ["summary", str(path), "--format", "json", "--batch", "3"])
    data = json.loads(result.stdout)
    for column in ("params", "trainable_params", "non_trainable_params", "running_stats", "macs", "flops"):
        assert data["totals"][column] == sum(layer[column] for layer in data["layers"]), column
    assert data["totals"]["activation_bytes"] == sum(layer["memory_bytes"] for layer in data["layers"])
    assert data["totals"]["trainable_params"] + data["totals"]["non_trainable_params"] == (
        data["totals"]["params"] + data["totals"]["running_stats"]
    )
