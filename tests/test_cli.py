"""The command line as a user meets it: formats, options, standard input, exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc.cli import main

ROOT = Path(__file__).resolve().parent.parent
MNIST = str(ROOT / "examples" / "mnist-421k.yaml")


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def test_json_follows_the_contract():
    data = json.loads(run("summary", MNIST, "--format", "json").stdout)
    assert set(data) >= {"name", "input_shape", "layout", "batch", "layers", "totals", "warnings"}
    layer_keys = {"name", "type", "inputs", "output_shape", "params", "trainable_params", "non_trainable_params",
                  "running_stats", "macs", "flops", "receptive_field"}
    assert all(set(layer) >= layer_keys for layer in data["layers"])
    assert set(data["totals"]) >= {"params", "trainable_params", "non_trainable_params", "running_stats", "macs", "flops"}
    conv1 = data["layers"][0]
    assert conv1["name"] == "conv1" and conv1["inputs"] == ["input"] and conv1["output_shape"] == [32, 28, 28]
    assert conv1["receptive_field"] == {"size": [3, 3], "stride": [1, 1], "padding": [1, 1], "center": [0, 0],
                                        "global_context": None}
    assert data["layers"][-1]["receptive_field"] is None
    # The same document as the Python API's (CONTRACT.md §12), which the golden files check.
    assert data == cnncalc.summary(cnncalc.load(MNIST)).to_dict()


def test_table_fits_80_columns_and_shows_both_conventions():
    result = run("summary", str(ROOT / "examples" / "vgg16.yaml"))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    assert "138,357,544" in result.stdout and "15.5 G" in result.stdout
    assert "PyTorch" in result.stdout and "Keras" in result.stdout


def test_csv_has_exact_figures_and_a_total_row():
    rows = list(csv.DictReader(io.StringIO(run("summary", MNIST, "--format", "csv").stdout)))
    assert rows[-1]["name"] == "total" and int(rows[-1]["params"]) == 421_642
    assert sum(int(r["params"]) for r in rows[:-1]) == 421_642


def test_markdown_is_a_pipe_table():
    text = run("summary", MNIST, "--format", "markdown").stdout
    assert "| 1 | `conv1` | conv2d | (32, 28, 28) | 320 |" in text


def test_markdown_total_row_is_the_column_sums():
    lines = run("summary", MNIST, "--format", "markdown").stdout.splitlines()
    table = [[cell.strip().strip("*").replace(",", "") for cell in line.split("|")[1:-1]] for line in lines if line.startswith("|")]
    layers = [cells for cells in table if cells[0].isdigit()]
    total = next(cells for cells in table if cells[1] == "total")
    assert int(total[4]) == sum(int(cells[4]) for cells in layers)
    assert int(total[5]) == sum(int(cells[5]) for cells in layers)


def test_markdown_escapes_a_pipe_in_a_layer_name(tmp_path):
    path = tmp_path / "pipe.yaml"
    path.write_text("input: [1, 8, 8]\nlayers:\n  - conv2d: {out: 2, kernel: 3}\n    name: a|b\n")
    text = run("summary", str(path), "--format", "markdown").stdout
    assert "| `a\\|b` | conv2d |" in text


def test_input_batch_and_dtype_options():
    data = json.loads(run("summary", MNIST, "--format", "json", "--batch", "8", "--dtype", "float16").stdout)
    single = json.loads(run("summary", MNIST, "--format", "json").stdout)
    assert data["totals"]["macs"] == 8 * single["totals"]["macs"]
    assert data["totals"]["activation_bytes"] == 8 * single["totals"]["activation_bytes"] // 2
    bigger = json.loads(run("summary", str(ROOT / "examples" / "vgg16.yaml"), "--input", "3x256x256", "--format", "json").stdout)
    assert bigger["input_shape"] == [3, 256, 256] and bigger["layers"][0]["output_shape"] == [64, 256, 256]


def test_bad_input_option_is_exit_2_without_traceback():
    result = run("summary", MNIST, "--input", "3x0")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("--input:1:1: error: --input shape must be")


def test_missing_file_and_usage_errors_exit_2():
    missing = run("summary", "no-such.yaml")
    assert (missing.exit_code, missing.stdout, missing.stderr) == (2, "", "cnncalc: error: no such file: no-such.yaml\n")
    xml = run("summary", MNIST, "--format", "xml")
    assert xml.exit_code == 2 and xml.stdout == ""
    assert "Invalid value for '--format': 'xml' is not one of 'table', 'json'," in xml.stderr
    zero = run("summary", MNIST, "--batch", "0")
    assert zero.exit_code == 2 and zero.stdout == "" and "Invalid value for '--batch': 0 " in zero.stderr


def test_yaml_on_standard_input():
    text = Path(MNIST).read_text()
    data = json.loads(run("summary", "-", "--format", "json", input=text).stdout)
    assert data["totals"]["params"] == 421_642


def test_warnings_go_to_stderr_and_json():
    path = str(ROOT / "examples" / "keras-mnist.yaml")
    table = run("summary", path)
    assert "never reached" in table.stderr and "never reached" not in table.stdout
    assert any("never reached" in w for w in json.loads(run("summary", path, "--format", "json").stdout)["warnings"])


def test_layers_lists_every_registered_type():
    from cnncalc.layers import REGISTRY

    listed = json.loads(run("layers", "--format", "json").stdout)
    assert [t["type"] for t in listed] == [cls.type_name for cls in REGISTRY.types]
    detail = run("layers", "Conv2D").stdout
    assert detail.startswith("conv2d:") and "kernel_size" in detail and "FLOPs" in detail
    assert run("layers", "conv2").exit_code == 2


def test_console_script_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "cnncalc", "summary", MNIST, "--format", "json"], capture_output=True, text=True)
    assert result.returncode == 0 and json.loads(result.stdout)["totals"]["params"] == 421_642


def test_depth_folds_block_instances():
    path = str(ROOT / "examples" / "resnet50.yaml")
    folded = run("summary", path, "--depth", "0")
    names = [line.split()[0] for line in folded.stdout.splitlines()[3:11]]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    assert "bottleneck x3" in folded.stdout and "25,557,032" in folded.stdout
    one = run("summary", path, "--depth", "1", "--format", "csv").stdout
    assert "\nlayer1.0,bottleneck," in one and "layer1.0.conv1" not in one
    rows = list(csv.DictReader(io.StringIO(one)))
    assert sum(int(r["params"]) for r in rows[:-1]) == 25_557_032
    assert "layer1.0.conv1" in run("summary", path).stdout


def test_summary_never_imports_numpy_or_torch():
    """Start-up matters for a calculator: the analysis is plain Python integers."""
    code = (
        "import sys\n"
        "from cnncalc.cli import main\n"
        "sys.argv = ['cnncalc', 'summary', sys.argv[1], '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'numpy' not in sys.modules and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'numpy' in m)[:3]\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "resnet50.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_astronomical_sizes_are_exact_and_printable(fmt, tmp_path):
    """Found by the error catalogue: a conv with 10**350 output channels made the human
    units overflow a float. The figures are exact integers; the units fall back to e-notation."""
    path = tmp_path / "huge.yaml"
    path.write_text("input: [3, 4, 4]\nlayers:\n  - conv2d: {out: 1" + "0" * 350 + ", kernel: 1}\n")
    result = run("summary", str(path), "--format", fmt)
    assert result.exit_code == 0, result.stderr
    if fmt == "json":
        assert json.loads(result.stdout)["totals"]["params"] == 4 * 10**350  # 3 weights + a bias per channel
    else:
        params = 4 * 10**350
        assert any(text in result.stdout for text in ("4.00e350", str(params), f"{params:,}"))
