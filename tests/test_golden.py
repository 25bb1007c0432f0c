"""Each example's summary document (`summary --format json`, `cnncalc.summary(...).to_dict()`)
against its golden file (tests/golden/NAME.json).

Regenerate with `pytest tests/test_golden.py --overwrite` and review the diff: the
figures themselves are checked against published values in test_reference.py and
against PyTorch in test_torch_oracle.py; these files catch any unintended change. A
missing golden file fails: it has to be created on purpose, and read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import cnncalc
from helpers import expected_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden"


def check_example(path: Path, golden_dir: Path, overwrite: bool) -> None:
    """The example's summary document equals golden_dir/NAME.json."""
    produced = cnncalc.summary(cnncalc.load(path)).to_dict()
    golden = golden_dir / f"{path.stem}.json"
    assert produced == json.loads(expected_text(golden, json.dumps(produced, indent=2) + "\n", overwrite))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_json(path, overwrite):
    check_example(path, GOLDEN, overwrite)


def test_every_golden_file_has_its_example():
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(p.stem for p in EXAMPLES)


def test_a_missing_golden_file_fails_and_is_not_created(tmp_path):
    example = tmp_path / "lenet5.yaml"
    shutil.copy(ROOT / "examples" / "lenet5.yaml", example)
    with pytest.raises(pytest.fail.Exception) as failure:
        check_example(example, tmp_path / "golden", overwrite=False)
    assert "lenet5.json does not exist" in str(failure.value)
    assert "--overwrite" in str(failure.value) and "review" in str(failure.value)
    assert not (tmp_path / "golden").exists()
    # --overwrite creates it; from then on it is compared.
    check_example(example, tmp_path / "golden", overwrite=True)
    assert json.loads((tmp_path / "golden" / "lenet5.json").read_text())["totals"]["params"] == 61_706
    check_example(example, tmp_path / "golden", overwrite=False)


def test_a_changed_golden_file_fails(tmp_path):
    example = ROOT / "examples" / "lenet5.yaml"
    wrong = cnncalc.summary(cnncalc.load(example)).to_dict()
    wrong["totals"]["params"] += 1
    (tmp_path / "lenet5.json").write_text(json.dumps(wrong, indent=2) + "\n")  # a stale file, made by hand
    with pytest.raises(AssertionError):
        check_example(example, tmp_path, overwrite=False)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_totals_are_the_column_sums(path):
    summary = cnncalc.summary(cnncalc.load(path), batch=3)
    totals = summary.totals
    for column in ("params", "trainable_params", "non_trainable_params", "running_stats", "macs", "flops"):
        assert getattr(totals, column) == sum(getattr(row, column) for row in summary.layers), column
    assert totals.activation_bytes == sum(row.memory_bytes for row in summary.layers)
    assert totals.trainable_params + totals.non_trainable_params == totals.params + totals.running_stats
