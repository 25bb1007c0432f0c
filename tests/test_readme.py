"""The README's pasted outputs are real: each is compared with a fresh run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from cnncalc.cli import main
from helpers import expected_text

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def block(first_line: str) -> str:
    """The README's text block whose first line starts with first_line."""
    found = [b for b in blocks("text") if b.startswith(first_line)]
    assert len(found) == 1, f"{len(found)} README blocks start with {first_line!r}"
    return found[0]


def run(*args) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code in (0, 2), result.output
    return result.stdout or result.stderr


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def test_readme_commands_are_the_ci_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]'" in README and "pip install -e '.[test]'" in ci
    assert "python -m pytest" in README and "python -m pytest" in ci


def test_first_summary_is_a_real_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lines(block("mnist-421k: input")) == lines(run("summary", "examples/mnist-421k.yaml"))


def test_vgg16_tail_is_a_real_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    real = lines(run("summary", "examples/vgg16.yaml"))
    shown = lines(block("classifier.6"))
    assert real[-len(shown):] == shown


def test_markdown_and_layers_excerpts_are_real(monkeypatch):
    monkeypatch.chdir(ROOT)
    markdown = lines(run("summary", "examples/tiny-resnet.yaml", "--format", "markdown"))
    assert lines(block("**tiny-resnet**")) == markdown[: len(lines(block("**tiny-resnet**")))]
    detail = lines(run("layers", "conv2d"))
    shown = [line for line in lines(block("conv2d: convolution")) if line.strip() != "..."]
    assert shown == detail[: len(shown)]


def test_error_example_is_real(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lines(block("tests/bad/unknown-attribute.yaml")) == lines(run("summary", "tests/bad/unknown-attribute.yaml"))


def test_json_excerpt_figures_are_real(monkeypatch):
    monkeypatch.chdir(ROOT)
    data = json.loads(run("summary", "examples/mnist-421k.yaml", "--format", "json"))
    excerpt = blocks("json")[0]
    for key, value in {**data["layers"][0], **data["totals"]}.items():
        if isinstance(value, int):
            assert f'"{key}": {value}' in excerpt, key


def test_every_layer_family_is_documented():
    from cnncalc.layers import REGISTRY

    stems = {re.sub(r"[123]d$", "", cls.type_name) for cls in REGISTRY.types}
    missing = [stem for stem in stems if f"`{stem}`" not in README]
    assert not missing, missing


def test_resnet50_depth_table_is_a_real_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lines(block("resnet50: input")) == lines(run("summary", "examples/resnet50.yaml", "--depth", "1"))
    layers = json.loads(run("summary", "examples/resnet50.yaml", "--format", "json"))["layers"]
    assert f"every one of its {len(layers)} layers" in README


def test_run_example_is_a_real_run_up_to_its_timings(monkeypatch):
    monkeypatch.chdir(ROOT)

    def masked(text):
        return [re.sub(r"\d+\.\d+", "#", line) for line in lines(text)]

    assert masked(block("conv-patch: forward pass")) == masked(run("run", "examples/homework/conv-patch.yaml"))


def test_rf_example_is_a_real_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lines(block("lenet5: receptive fields")) == lines(run("rf", "examples/lenet5.yaml", "--verify"))


def test_dsl_section_is_real(monkeypatch):
    monkeypatch.chdir(ROOT)
    one_liner = "input 1x28x28 | conv2d 32 k=3 | relu | maxpool2d 2 | flatten | linear 10"
    assert f'cnncalc summary -e "{one_liner}"' in README
    assert lines(block("network: input (1, 28, 28)")) == lines(run("summary", "-e", one_liner))
    dsl_file = "".join(l for l in (ROOT / "examples" / "resnet50.dsl").read_text().splitlines(keepends=True) if not l.startswith("#"))
    assert lines(block("name resnet50")) == lines(dsl_file)


def test_homework_examples_are_real(monkeypatch):
    monkeypatch.chdir(ROOT)

    def both(*args) -> str:
        result = CliRunner().invoke(main, list(args))
        return result.stdout + result.stderr

    assert lines(block("out = floor(")) == lines(both("size", "28", "-k", "3", "-s", "2"))
    assert lines(block("출력 = floor(")) == lines(both("size", "28", "-k", "3", "-s", "2", "--lang", "ko"))
    assert lines(block("convolution settings turning 224")) == lines(run("solve", "--in", "224", "--out", "112", "-k", "7"))
    assert lines(block("transposed convolution settings turning 128")) == lines(
        both("solve", "--in", "128", "--out", "256", "--transposed", "-k", "3", "-p", "1"))
    course = "examples/homework/mnist-course.yaml"
    assert lines(block("right  pool1 output_shape")) == lines(both("check", course, "examples/homework/mnist-course-answers.yaml"))
    assert lines(block("오답  conv1 output_shape")) == lines(
        both("check", course, "examples/homework/mnist-student-answers.yaml", "--lang", "ko"))
    assert lines(block("conv2 (conv2d), input")) == lines(run("summary", "examples/mnist-421k.yaml", "--explain", "conv2"))
    assert lines(block("conv2 (conv2d), 입력")) == lines(run("summary", "examples/mnist-421k.yaml", "--explain", "conv2", "--lang", "ko"))


def test_loss_and_error_examples_are_real(monkeypatch):
    monkeypatch.chdir(ROOT)

    def masked(text):
        return [re.sub(r"\d+\.\d+( s)? *$", "#", line) for line in lines(text)]  # values, and the pass's time

    result = CliRunner().invoke(main, ["run", "examples/homework/softmax.yaml", "--target", "3"])
    assert masked(block("softmax: forward pass")) == masked(result.stdout)
    for case in ("yaml-several-mistakes", "layout-hwc-in-channels-first"):
        result = CliRunner().invoke(main, ["summary", f"tests/bad/{case}.yaml"])
        assert lines(block(f"tests/bad/{case}.yaml:")) == lines(result.stderr)


def test_convert_example_is_real(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lines(block("name: lenet5")) == lines(run("convert", "examples/lenet5.dsl", "--to", "yaml"))


def python_block(first_line: str) -> str:
    found = [b for b in blocks("python") if b.startswith(first_line)]
    assert len(found) == 1, f"{len(found)} README python blocks start with {first_line!r}"
    return found[0]


def test_export_examples_are_real(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lines(python_block('"""lenet5')) == lines(run("export", "examples/lenet5.yaml", "--to", "pytorch"))
    assert lines(python_block('"""keras-mnist')) == lines(run("export", "examples/keras-mnist.yaml", "--to", "keras"))
    real = lines(run("export", "examples/resnet18.yaml", "--to", "pytorch"))
    shown = lines(block("class BasicDownsample"))
    start = real.index(shown[0])
    assert real[start : start + len(shown)] == shown


def test_readme_diagrams_are_real(monkeypatch, overwrite):
    """docs/*.svg are what the README says drew them (--overwrite redraws them)."""
    monkeypatch.chdir(ROOT)
    for picture, args in {
        "docs/unet.svg": ["examples/unet.yaml"],
        "docs/vgg16-funnel.svg": ["examples/vgg16.yaml", "--view", "funnel"],
    }.items():
        assert f"![" in README and f"]({picture})" in README
        drawn = run("diagram", *args)
        assert drawn == expected_text(ROOT / picture, drawn, overwrite), picture
