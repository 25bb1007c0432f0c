"""The layout's promises, checked on the code itself (AST), each shown to catch a planted
violation:

- imports flow one way: core -> layers -> graph -> source -> analysis -> forward -> output
  -> export -> api -> cli; a module imports only from its own level or below (function-level
  imports included);
- only the CLI imports click; only the outputs and the CLI import rich;
- nothing outside cnncalc/layers switches on a layer class or a layer type name: no
  isinstance() against a layer class, no comparison with a registered type name, no import of
  a layer family's module.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnncalc"

LEVELS = (
    ("cnncalc.errors", "cnncalc.files", "cnncalc.numbers", "cnncalc.units", "cnncalc.i18n"),
    ("cnncalc.layers",),
    ("cnncalc.graph",),
    ("cnncalc.source",),
    ("cnncalc.analysis",),
    ("cnncalc.forward",),
    ("cnncalc.output",),
    ("cnncalc.export",),
    ("cnncalc.api", "cnncalc"),
    ("cnncalc.cli", "cnncalc.__main__"),
)
# Modules of the layers package that any other part may use: the registry and base class,
# attributes, window arithmetic, the framework-call records and the kernels. The families
# (conv, dense, pool, ...) are reached only through the registry.
LAYER_PUBLIC = {"cnncalc.layers", "cnncalc.layers.base", "cnncalc.layers.attrs", "cnncalc.layers.windows",
                "cnncalc.layers.code", "cnncalc.layers.kernels", "cnncalc.layers.lazy"}
THIRD_PARTY = {"click": {"cnncalc.cli"}, "rich": {"cnncalc.cli", "cnncalc.output"}}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def level(module: str) -> int:
    """The level of a module: the longest prefix listed (cnncalc itself is the API's)."""
    best, depth = None, -1
    for index, prefixes in enumerate(LEVELS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no level of the layout; add it to LEVELS")
    return best


def imports(path: Path, root: Path):
    """(line, imported module) for every import in the file, relative ones resolved."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or node.level and not node.module:
                for alias in node.names:  # from . import dsl: each name may be a module
                    yield node.lineno, f"{target}.{alias.name}"
            else:
                yield node.lineno, target


def import_violations(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = level(module)
        for line, target in imports(path, root):
            where = f"{path.relative_to(root.parent)}:{line}"
            top = target.split(".")[0]
            if top in THIRD_PARTY and not any(module == m or module.startswith(m + ".") for m in THIRD_PARTY[top]):
                found.append(f"{where}: {module} imports {top}, which only {sorted(THIRD_PARTY[top])} may")
            if top != "cnncalc":
                continue
            if level(target) > own:
                found.append(f"{where}: {module} (level {own}) imports {target} (level {level(target)})")
            if (target.startswith("cnncalc.layers.") and target not in LAYER_PUBLIC
                    and not module.startswith("cnncalc.layers")):
                found.append(f"{where}: {module} imports the layer family module {target}")
    return found


def layer_names() -> tuple[set[str], set[str]]:
    """(class names, type spellings) of every registered layer type and their bases."""
    from cnncalc.layers import REGISTRY, Layer

    classes = {Layer.__name__}
    for cls in REGISTRY.types:
        classes.update(base.__name__ for base in cls.__mro__ if issubclass(base, Layer))
    spellings = {REGISTRY.key(s) for s in REGISTRY.spellings()}
    return classes, spellings


def switch_violations(root: Path) -> list[str]:
    """isinstance() against a layer class, or a comparison with a layer type's name, outside
    the layers package."""
    classes, spellings = layer_names()
    found = []
    for path in sorted(root.rglob("*.py")):
        if "layers" in path.relative_to(root).parts[:1]:
            continue
        where = path.relative_to(root.parent)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "issubclass"):
                if len(node.args) == 2:
                    targets = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
                    for target in targets:
                        name = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else ""
                        if name in classes:
                            found.append(f"{where}:{node.lineno}: isinstance against the layer class {name}")
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                for operand in operands:
                    values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                    for value in values:
                        if (isinstance(value, ast.Constant) and isinstance(value.value, str)
                                and value.value.lower() == value.value and value.value in spellings
                                and any(mentions_type(o) for o in operands)):
                            found.append(f"{where}:{node.lineno}: compares a layer's type with '{value.value}'")
    return found


def mentions_type(node: ast.AST) -> bool:
    """An expression reading a layer's type: x.type, x.type_name, x.kind, type_name."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Attribute) and inner.attr in ("type", "type_name", "kind"):
            return True
        if isinstance(inner, ast.Name) and inner.id in ("type_name", "kind", "layer_type"):
            return True
    return False


def test_imports_flow_one_way():
    assert import_violations(PACKAGE) == []


def test_nothing_outside_the_layers_switches_on_layer_types():
    assert switch_violations(PACKAGE) == []


@pytest.fixture
def planted(tmp_path):
    copy = tmp_path / "cnncalc"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def plant(path: Path, code: str) -> None:
    path.write_text(path.read_text() + "\n\n" + code + "\n")


def test_a_planted_upward_import_is_found(planted):
    plant(planted / "layers" / "base.py", "def _planted():\n    from ..cli import main\n    return main")
    plant(planted / "analysis" / "summary.py", "import click")
    plant(planted / "output" / "text.py", "from ..layers.conv import Conv")
    found = sorted(set(import_violations(planted)) - set(import_violations(PACKAGE)))
    assert any("cnncalc.layers.base (level 1) imports cnncalc.cli (level 9)" in f for f in found), found
    assert any("cnncalc.analysis.summary imports click" in f for f in found), found
    assert any("imports the layer family module cnncalc.layers.conv" in f for f in found), found
    assert len(found) == 3, found


def test_a_planted_switch_on_layer_types_is_found(planted):
    plant(planted / "output" / "text.py", "def _planted(row, layer, Conv):\n"
          "    if row.type == 'linear':\n        return 1\n"
          "    if layer.type_name in ('conv2d', 'maxpool2d'):\n        return 2\n"
          "    return isinstance(layer, Conv)")
    found = sorted(set(switch_violations(planted)) - set(switch_violations(PACKAGE)))
    assert any("compares a layer's type with 'linear'" in f for f in found), found
    assert any("compares a layer's type with 'conv2d'" in f for f in found), found
    assert any("isinstance against the layer class Conv" in f for f in found), found
