"""Every error cnncalc can print, each with an input that causes it and its exact message.

A case is tests/bad/NAME.yaml or NAME.dsl (run with `cnncalc summary`, or with the command
on its first line, `# cnncalc export FILE --to keras`), or NAME.cmd (a command line with
no network file of its own). NAME.err is the whole of standard error: for a file,
PATH:LINE:COL: error: ..., the source line and a caret. Standard output stays empty and
the exit code is 2. docs/errors.md, the error catalogue, is made from these cases, and a
test fails when a message in the code has no case. Regenerate the .err files and the
catalogue with `pytest tests/test_errors.py --overwrite` and review the diff; a case
without its .err file fails until then.
"""

from __future__ import annotations

import ast
import re
import shlex
import string
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnncalc.cli import main
from cnncalc.i18n import CATALOGUE as MESSAGES
from helpers import expected_text

ROOT = Path(__file__).resolve().parent.parent
BAD_DIR = ROOT / "tests" / "bad"
BAD = sorted([*BAD_DIR.glob("*.yaml"), *BAD_DIR.glob("*.dsl"), *BAD_DIR.glob("*.cmd")])  # .onnx cases run from .cmd
CATALOGUE = ROOT / "docs" / "errors.md"
CATALOGUE_EN = {key: texts["en"] for key, texts in MESSAGES.items()}

# Messages no input file or command line can cause on a working machine, and why.
NOT_CATALOGUED = {
    ("onnx.py", "writing ONNX files needs the onnx package"): "depends on what is installed; tests/test_onnx.py checks it",
    ("onnxformat.py", "reading ONNX files needs the onnx package"): "depends on what is installed; tests/test_onnx.py checks it",
    ("onnxformat.py", "cannot read {}: {}"): "the system refuses to read a regular file (permissions, I/O)",
    ("reading.py", "cannot read {}: {}"): "the file exists but the system refuses to read it (permissions, I/O)",
    ("files.py", "cannot write {}: {}"): "the disk fails between creating the file and renaming it",
    ("diagram.py", "writing PNG needs cairosvg"): "depends on what is installed; tests/test_diagram.py checks it",
    ("base.py", "{}"): "Layer.fail: the message comes from the caller, and each caller has its own case",
    ("graph.py", "a layer type must be a name"): "both readers make every type a string; kept for specs built in code",
    ("api.py", "unknown format {}"): "the Python API's own arguments; tests/test_api.py checks the message",
    ("api.py", "batch must be a positive integer"): "the Python API's own arguments; tests/test_api.py checks it",
    ("api.py", "unknown dtype {}"): "the Python API's own arguments; tests/test_api.py checks it",
    ("api.py", "unknown {} {}"): "cnncalc.diagram's own arguments; tests/test_diagram.py checks the messages",
    ("api.py", "depth must be a non-negative integer"): "cnncalc.diagram's own argument; tests/test_diagram.py checks it",
    ("attrs.py", "pair"): "internal: replaced by the attribute's own description before it reaches the user",
    ("yamltree.py", "the YAML is nested too deeply to read"): "libyaml's own recursion limit; our depth limit comes first",
    ("files.py", "cannot read {}: {}"): "the system refuses to open or read a regular file (permissions, I/O)",
    ("arrays.py", "cannot read {}: {}"): "the system refuses to read a regular file (I/O)",
    ("files.py", "{} is too large"): "needs a file over 16 MiB; tests/test_hardening_io.py (sparse file, standard input)",
    ("arrays.py", "{} holds {} members"): "needs 100,001 zip members; tests/test_hardening_io.py::test_the_limit_counts_every_array_of_the_file",
    ("base.py", "cnncalc does not know yet what PyTorch keeps for the backward pass of a {} layer"): "every registered type declares it (tests/test_training.py checks that, and the message)",
    ("kerasformat.py", "reading the weights of a Keras file needs the h5py package"): "depends on what is installed; tests/test_keras_in.py checks it",
    ("kerasformat.py", "{}: {} holds more than the limit of {} bytes for {}"): "needs a member over 64 MiB; tests/test_keras_in.py checks it under a lower limit",
    ("kerasformat.py", "model.weights.h5 cannot be read ({}: {})"): "an HDF5 file h5py opens but cannot read a part of (damaged inside); the unreadable file is keras-weights-corrupt",
    ("base.py", "cnncalc does not know how Keras lays out the weights of a {} layer"): "every type a Keras layer class maps to declares its layout; tests/test_keras_in.py checks the message on one that does not",
    ("files.py", "cannot write to an empty path"): "the CLI refuses an empty --save or -o first (save-empty-name); tests/test_hardening_io.py",
}


def command(path: Path, root: Path = ROOT) -> list[str]:
    relative = path.relative_to(root).as_posix()
    if path.suffix == ".cmd":
        return shlex.split(path.read_text().strip())
    first = path.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
    if first and first[0].startswith("# cnncalc "):
        return [relative if word == "FILE" else word for word in shlex.split(first[0][len("# cnncalc ") :])]
    return ["summary", relative]


def check_bad_input(path: Path, overwrite: bool, root: Path = ROOT) -> None:
    """Run the case (from root): exit 2, nothing on stdout, stderr exactly NAME.err."""
    relative = path.relative_to(root).as_posix()
    result = CliRunner().invoke(main, command(path, root))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stderr == expected_text(path.with_suffix(".err"), result.stderr, overwrite)
    if command(path, root) == ["summary", relative] and not path.name.startswith("file-"):
        assert result.stderr.startswith(f"{relative}:")  # a mistake in the file is shown where it is
    else:  # in another file (an answers file), or in the command line: no line to point at
        assert re.match(r"[\w./-]+:\d+:\d+: error: |cnncalc: error: ", result.stderr)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_input_message(path, monkeypatch, overwrite):
    monkeypatch.chdir(ROOT)
    check_bad_input(path, overwrite)


def test_a_case_without_its_message_fails_and_gets_none(tmp_path, monkeypatch):
    case = tmp_path / "unknown-type.yaml"
    case.write_text("input: [3, 8, 8]\nlayers:\n  - conv9d: 4\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pytest.fail.Exception) as failure:
        check_bad_input(case, overwrite=False, root=tmp_path)
    assert "unknown-type.err does not exist" in str(failure.value) and "--overwrite" in str(failure.value)
    assert not case.with_suffix(".err").exists()
    check_bad_input(case, overwrite=True, root=tmp_path)  # --overwrite records it, for review
    assert case.with_suffix(".err").read_text().startswith("unknown-type.yaml:3:5: error: ")
    check_bad_input(case, overwrite=False, root=tmp_path)


def test_every_bad_input_has_its_message():
    assert BAD, "no bad inputs found"
    assert sorted(p.stem for p in BAD_DIR.glob("*.err")) == sorted(p.stem for p in BAD)


# -- the catalogue --------------------------------------------------------------------------


def catalogue() -> str:
    lines = [
        "# Error catalogue",
        "",
        "Every error cnncalc prints, with an input that causes it and the exact message (exit",
        "code 2, on standard error). Each entry is a test: tests/bad/ holds the inputs and the",
        "messages, and `python -m pytest tests/test_errors.py --overwrite` rewrites both this",
        "page and the messages from a fresh run. A message in the code without an entry here",
        "fails `test_every_message_in_the_code_is_catalogued`.",
        "",
    ]
    for path in BAD:
        words = command(path)
        shown = " ".join(shlex.quote(w) for w in words)
        lines += [f"## {path.stem}", "", f"`cnncalc {shown}`", ""]
        if path.suffix != ".cmd":
            text = path.read_text(encoding="utf-8", errors="replace").rstrip("\n")
            if len(text.splitlines()) <= 40:
                language = "yaml" if path.suffix == ".yaml" else "text"
                lines += [f"```{language}", text, "```", ""]
            else:
                lines += [f"(the input, {len(text.splitlines())} lines, is in `{path.relative_to(ROOT).as_posix()}`)", ""]
        lines += ["```text", path.with_suffix(".err").read_text().rstrip("\n"), "```", ""]
    return "\n".join(lines)


def test_catalogue_is_up_to_date(overwrite):
    text = catalogue()
    assert text == expected_text(CATALOGUE, text, overwrite), "run pytest tests/test_errors.py --overwrite"


def message_sites():
    """(file, line, literal fragments) of every message raised in cnncalc/."""

    def fragments(node) -> list:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "tr" and node.args:
            key = node.args[0]  # a catalogue message (cnncalc/i18n.py): its English text
            if not isinstance(key, ast.Constant):
                return [None]
            parts = []
            for literal, name, _, _ in string.Formatter().parse(CATALOGUE_EN[key.value]):
                parts += [literal, None] if name is not None else [literal]
            return parts
        if isinstance(node, ast.JoinedStr):
            return [v.value if isinstance(v, ast.Constant) else None for v in node.values]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return fragments(node.left) + fragments(node.right)
        return [None]

    for path in sorted((ROOT / "cnncalc").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name in ("CnnError", "fail", "ExprError", "AttrError"):
                    yield path.name, node.lineno, fragments(node.args[0])


def test_every_message_in_the_code_is_catalogued():
    text = CATALOGUE.read_text()
    missing = []
    for file, line, parts in message_sites():
        template = "".join(p if p is not None else "{}" for p in parts)
        if any(file == f and template.startswith(start) for f, start in NOT_CATALOGUED):
            continue
        pattern = ".*?".join(re.escape(p) for p in parts if p)
        if not re.search(pattern, text, re.DOTALL):
            missing.append(f"{file}:{line}: {template}")
    assert not missing, "messages without a case in tests/bad:\n" + "\n".join(missing)
