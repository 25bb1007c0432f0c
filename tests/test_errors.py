"""Each kind of bad input and its exact message (tests/bad/NAME.yaml -> NAME.err).

The message is the whole of standard error: PATH:LINE:COL: error: ..., the source line and
a caret. Standard output stays empty and the exit code is 2. Regenerate the .err files
with `pytest tests/test_errors.py --overwrite` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cnncalc.cli import main

ROOT = Path(__file__).resolve().parent.parent
BAD = sorted([*(ROOT / "tests" / "bad").glob("*.yaml"), *(ROOT / "tests" / "bad").glob("*.dsl")])


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_input_message(path, monkeypatch, overwrite):
    monkeypatch.chdir(ROOT)
    relative = path.relative_to(ROOT).as_posix()
    result = CliRunner().invoke(main, ["summary", relative])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    expected = path.with_suffix(".err")
    if overwrite or not expected.exists():
        expected.write_text(result.stderr)
    assert result.stderr == expected.read_text()
    assert result.stderr.startswith(f"{relative}:")


def test_every_bad_input_has_its_message():
    assert BAD, "no bad inputs found"
    assert sorted(p.stem for p in (ROOT / "tests" / "bad").glob("*.err")) == [p.stem for p in BAD]
