"""Nothing a network file says runs as code in an exported module (issue 20).

Text from the file reaches generated code as the network's name, block names, block
parameter names and layer names. Each attack below is one of those, as data; for each, both
exports must either be refused with a located error, or be a module that

- at import defines things and does nothing else: checked on its syntax tree (only imports
  of torch or keras, literal assignments, classes and functions without decorators or
  computed defaults, and the fixed `if __name__ == "__main__":` guard), and by importing it
  in another Python where torch and keras are stubs, under an audit hook: no command, no
  file, no output, no import but the frameworks';
- reads the names back unchanged: the docstrings give the network's and blocks' names by
  `ast.literal_eval`, the Keras layers' `name=` strings give the layers' names, and the
  real PyTorch and Keras build modules and layers under exactly cnncalc's names.

A property test draws any name hypothesis can make for the network, a block and a layer.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.errors import CnnError
from cnncalc.export import keras_name, to_keras, to_pytorch

os.environ.setdefault("KERAS_BACKEND", "torch")

PAYLOAD = '__import__("os").system("touch PWNED")'
NASTY = [  # text that must stay text wherever it is written
    f'x"""; {PAYLOAD}; """',
    f"x'''; {PAYLOAD}; '''",
    f'x\\"""; {PAYLOAD}; #',
    "trailing backslash\\",
    '\\"""',
    f"x\n{PAYLOAD}\n",
    f"x\r{PAYLOAD}",
    "tab\there",
    "nul\x00 bell\x07 del\x7f",
    "é 名前 a² \U0001F600",
    "rtl\u202eevil",
    "line\u2028separator",
    "zero\u200bwidth",
    "{x} {m} %s $x",
]
PYTHON_NAMES = [  # names the generated code uses itself
    "self", "class", "None", "super", "getattr", "len", "float", "print", "torch", "nn", "F", "x", "out",
    "inputs", "keras", "layers", "build_model", "gelu_exact", "MaxPoolPadding", "SeparableConv",
    "INPUT_SHAPE", "Net", "__x", "_x", "ﬁ",
]
# Layer names PyTorch cannot hold as module attributes (Keras can).
TORCH_REFUSED = ["__class__", "__init__", "__dict__", "_modules", "_parameters", "training", "forward", "state_dict", "float"]


def case(where: str, name: str, torch_ok: bool = True, keras_ok: bool = True) -> dict:
    return {"where": where, "name": name, "torch": torch_ok, "keras": keras_ok}


CASES = (
    [case("network", name) for name in NASTY + PYTHON_NAMES]
    + [case("block", name) for name in NASTY + PYTHON_NAMES + ["none", "f", "3x3", "1"]]
    + [case("param", name) for name in PYTHON_NAMES if name.isidentifier()]
    + [case("layer", name) for name in NASTY + PYTHON_NAMES + ["a b", "0", "c_pad_x"] if name not in TORCH_REFUSED]
    + [case("layer", name, torch_ok=False) for name in TORCH_REFUSED]
    + [case("layer", "a/b", keras_ok=False), case("network", "a/b", keras_ok=False)]
    + [case("layer", "stem_pad", keras_ok=False)]  # the name of stem's own padding layer in Keras
)


def document(network="net", block="unit", param="width", layer="conv") -> dict:
    """A network that puts each name where the generated code holds it: a block with two
    instances (a class; `param` names its varying argument), a layer inside it (a member
    of the class) and at the top (a member of Net, and a variable of its own, as x and out
    are live), with helpers in both frameworks and an extra Keras layer (stem_pad)."""
    unit = {
        "params": {param: None, "w": None},
        "layers": [{"conv2d": {"out": "$w", "kernel": 3, "padding": 1}, "name": layer}, "relu"],
    }
    return {
        "name": network,
        "input": [3, 8, 8],
        "blocks": {block: unit},
        "layers": [
            {block: {param: 4, "w": 4}, "name": "first"},
            {block: {param: 8, "w": 8}, "name": "second"},
            {"conv2d": {"out": 4, "kernel": 3, "stride": 2, "padding": 1}, "name": "stem"},
            {"relu": None, "name": "b0"},
            {"relu": None, "from": "stem", "name": layer},
            {"add": ["stem", "b0", layer]},
            {"gelu": None},
            {"maxpool2d": {"kernel": 3, "stride": 2, "padding": 1}},
            {"separable_conv2d": {"out": 4, "kernel": 3, "padding": 1}},
        ],
    }


def attack_document(attack: dict) -> dict:
    return document(**{attack["where"]: attack["name"]})


def load(doc: dict):
    return cnncalc.loads(yaml.safe_dump(doc, sort_keys=False, allow_unicode=False), format="yaml", path="attack.yaml")


def case_id(attack: dict) -> str:
    return f"{attack['where']}-{attack['name'].encode('unicode_escape').decode()[:24]}"


# -- what an exported module may do at import -----------------------------------------------------

MAIN_GUARDS = {
    ast.unparse(ast.parse(guard))
    for guard in (
        'if __name__ == "__main__":\n    net = Net().eval()\n    print(net(torch.randn(INPUT_SHAPE)).shape)',
        'if __name__ == "__main__":\n    build_model().summary()',
    )
}
FRAMEWORK_MODULES = {"torch", "torch.nn", "torch.nn.functional", "keras"}


def dotted_name(node: ast.AST) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def definition_problems(node: ast.AST, where: str) -> list[str]:
    """A class or function whose definition runs nothing: no decorators, dotted bases, no
    keywords, literal defaults, no annotations; a class holds a docstring and methods."""
    problems = []
    if node.decorator_list:
        problems.append(f"{where}: a decorator")
    if isinstance(node, ast.ClassDef):
        if node.keywords or not all(dotted_name(b) for b in node.bases):
            problems.append(f"{where}: computed bases")
        for index, inner in enumerate(node.body):
            if index == 0 and isinstance(inner, ast.Expr) and isinstance(inner.value, ast.Constant) and isinstance(inner.value.value, str):
                continue
            if isinstance(inner, ast.FunctionDef):
                problems += definition_problems(inner, f"{where}.{inner.name}")
            else:
                problems.append(f"{where}: a statement in the class body: {ast.unparse(inner)[:80]}")
    elif isinstance(node, ast.FunctionDef):
        arguments = node.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        if node.returns is not None or any(a is not None and a.annotation is not None for a in every):
            problems.append(f"{where}: an annotation")
        if not all(literal(d) for d in [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]):
            problems.append(f"{where}: a computed default")
    else:
        problems.append(f"{where}: not a definition")
    return problems


def import_time_problems(code: str) -> list[str]:
    """Everything at the top of the module that would run more than definitions."""
    tree = ast.parse(code)
    problems = []
    for index, node in enumerate(tree.body):
        where = f"line {node.lineno}"
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if isinstance(node, ast.Import):
            problems += [f"{where}: imports {a.name}" for a in node.names if a.name not in FRAMEWORK_MODULES]
        elif isinstance(node, ast.ImportFrom):
            if node.module not in FRAMEWORK_MODULES or node.level:
                problems.append(f"{where}: imports from {node.module}")
        elif isinstance(node, ast.Assign):
            if not all(isinstance(t, ast.Name) for t in node.targets) or not literal(node.value):
                problems.append(f"{where}: assigns {ast.unparse(node)[:80]}")
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            problems += definition_problems(node, node.name)
        elif isinstance(node, ast.If):
            if ast.unparse(node) not in MAIN_GUARDS:
                problems.append(f"{where}: an if statement other than the main guard")
        else:
            problems.append(f"{where}: runs {ast.unparse(node)[:80]}")
    return problems


# Imports each exported module in a Python whose torch and keras are stubs (any attribute is a
# class), under an audit hook; writes what it saw to report.json. Its own output must be empty.
RUNNER = textwrap.dedent(
    '''
    import importlib.abc, importlib.machinery, io, json, os, sys, types
    from contextlib import redirect_stderr, redirect_stdout

    class Stub(type):
        def __getattr__(cls, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return Stub(name, (), {})

    class StubModule(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return Stub(name, (), {})

    imported = []

    class Frameworks(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("torch", "keras"):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)

        def create_module(self, spec):
            imported.append(spec.name)
            return StubModule(spec.name)

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, Frameworks())
    events, watching = [], []

    def hook(event, args):
        if not watching or event == "exec" and args and args[0] is watching[0]:
            return  # not importing, or the import itself
        if event == "import" and args[0].split(".")[0] in ("torch", "keras"):
            return  # recorded by the stubs
        events.append(event + " " + repr(args)[:120])

    sys.addaudithook(hook)
    reports = {}
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as file:
            try:
                code = compile(file.read(), path, "exec")
            except SyntaxError as exc:
                reports[path] = {"events": [], "imported": [], "output": "", "error": repr(exc), "globals": []}
                continue
        namespace = {"__name__": "exported"}
        imported.clear()
        events.clear()
        out, err = io.StringIO(), io.StringIO()
        error = None
        with redirect_stdout(out), redirect_stderr(err):
            watching.append(code)
            try:
                exec(code, namespace)
            except BaseException as exc:
                error = repr(exc)
            watching.clear()
        reports[path] = {
            "events": list(events),
            "imported": sorted(imported),
            "output": out.getvalue() + err.getvalue(),
            "error": error,
            "globals": sorted(k for k in namespace if not k.startswith("__")),
        }
    with open("report.json", "w", encoding="utf-8") as file:
        json.dump(reports, file)
    '''
)


def exports(attack: dict) -> dict[str, str | CnnError]:
    network = load(attack_document(attack))
    results: dict[str, str | CnnError] = {}
    for framework, export in (("torch", to_pytorch), ("keras", to_keras)):
        try:
            results[framework] = export(network)
        except CnnError as exc:
            results[framework] = exc
    return results


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Every attack's exports, imported in one separate Python with stub frameworks: the
    report per file, the files left in its directory, and its own output."""
    directory = tmp_path_factory.mktemp("imported")
    files = []
    for index, attack in enumerate(CASES):
        for framework, code in exports(attack).items():
            if isinstance(code, str):
                path = directory / f"case{index}_{framework}.py"
                path.write_text(code, encoding="utf-8")
                files.append(path.name)
    (directory / "runner.py").write_text(RUNNER)
    done = subprocess.run(
        [sys.executable, "-I", "runner.py", *files], cwd=directory, capture_output=True, text=True, timeout=120
    )
    assert (directory / "report.json").exists(), done.stdout + done.stderr
    reports = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    left = sorted(p.name for p in directory.iterdir())
    return reports, left, sorted([*files, "runner.py", "report.json"]), done.stdout + done.stderr


def expected_keys(network) -> set[str]:
    summary = cnncalc.summary(network)
    return {f"{row.name}.{w}" for row in summary.layers for w, _ in (*row.weights, *row.buffers)}


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case_id(c) for c in CASES])
def test_a_name_from_the_file_stays_a_name(index, imported):
    attack = CASES[index]
    reports, left, files, output = imported
    assert output == "" and left == files  # nothing printed, no file made, in the whole run
    network = load(attack_document(attack))
    for framework, code in exports(attack).items():
        if not attack[framework]:
            assert isinstance(code, CnnError), f"{framework} should refuse {attack['name']!r}"
            assert code.location is not None or attack["where"] == "network"
            continue
        assert isinstance(code, str), f"{framework} refused {attack['name']!r}: {code}"
        assert import_time_problems(code) == []
        report = reports[f"case{index}_{framework}.py"]
        assert report["error"] is None and report["output"] == "" and report["events"] == []
        assert set(report["imported"]) <= FRAMEWORK_MODULES
        read_back(attack, network, framework, code)


def read_back(attack: dict, network, framework: str, code: str) -> None:
    """The names, read from the module as Python reads them, are the file's."""
    tree = ast.parse(code)
    title = network.name or "network"
    docstring = ast.get_docstring(tree, clean=False)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    if framework == "torch":
        assert docstring.startswith(f"{title}: PyTorch code written by `cnncalc export`.\n")
        assert ast.get_docstring(classes["Net"], clean=False).startswith(f"{title}, built for input (1, 3, 8, 8):\n")
        blocks = [ast.get_docstring(node, clean=False) for name, node in classes.items() if name not in ("Net", "SeparableConv")]
        assert blocks == [f"Block '{network.groups[0].block}' (2 instances in this network)."]
        if attack["where"] in ("layer", "param"):  # PyTorch builds it under cnncalc's names
            namespace: dict = {"__name__": "exported"}
            exec(compile(code, "<exported>", "exec"), namespace)
            keys = {k for k in namespace["Net"]().state_dict() if not k.endswith("num_batches_tracked")}
            assert keys == expected_keys(network)
    else:
        assert docstring.startswith(f"{title}, written by cnncalc export: a Keras 3 functional model")
        model_name, names = keras_names(tree)
        assert model_name == title
        assert {keras_name(node.name) for node in network.nodes} <= names
        if attack["where"] == "layer":  # Keras builds it with those names
            import keras  # noqa: F401 - the backend is chosen above

            namespace = {"__name__": "exported"}
            exec(compile(code, "<exported>", "exec"), namespace)
            model = namespace["build_model"]()
            assert {layer.name for layer in model.layers} == names


def keras_names(tree: ast.Module) -> tuple[str, set[str]]:
    """(the model's name, every layer's name) as Python reads the `name=` strings."""
    model, layers = None, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "name":
                    if ast.unparse(node.func) == "keras.Model":
                        model = ast.literal_eval(keyword.value)
                    else:
                        layers.add(ast.literal_eval(keyword.value))
    return model, layers


def test_the_stub_run_would_see_a_command_a_file_and_output(tmp_path):
    """The isolated import is able to catch what it looks for."""
    planted = tmp_path / "planted.py"
    planted.write_text('import os\nimport torch.nn as nn\nos.system("true")\nopen("made", "w")\nprint("hi")\n')
    (tmp_path / "runner.py").write_text(RUNNER)
    subprocess.run([sys.executable, "-I", "runner.py", "planted.py"], cwd=tmp_path, check=True, timeout=60)
    report = json.loads((tmp_path / "report.json").read_text())["planted.py"]
    assert any(e.startswith("os.system") for e in report["events"])
    assert any(e.startswith("open") for e in report["events"])
    assert report["output"] == "hi\n" and "torch.nn" in report["imported"]
    assert import_time_problems(planted.read_text()) != []


# -- any name hypothesis can draw ------------------------------------------------------------------

TEXT = st.text(min_size=1, max_size=12)
PARAM = st.one_of(
    st.sampled_from([n for n in PYTHON_NAMES if n.isidentifier()]), st.from_regex(r"[^\W\d]\w{0,6}", fullmatch=True)
).filter(lambda name: name.isidentifier() and name != "w")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network=st.text(max_size=20), block=TEXT, param=PARAM, layer=TEXT)
def test_any_name_cnncalc_accepts_survives_export(network, block, param, layer):
    try:
        net = load(document(network, block, param, layer))
    except CnnError:
        return  # cnncalc refuses it when reading (tests/test_errors.py has those messages)
    for framework, export in (("torch", to_pytorch), ("keras", to_keras)):
        try:
            code = export(net)
        except CnnError as exc:  # an honest refusal says where
            assert exc.location is not None or "network's name" in str(exc)
            continue
        assert import_time_problems(code) == []
        tree = ast.parse(code)
        title = net.name or "network"
        assert ast.get_docstring(tree, clean=False).startswith(title)
        if framework == "keras":
            model_name, names = keras_names(tree)
            assert model_name == title and {keras_name(node.name) for node in net.nodes} <= names
        else:
            # PyTorch builds it under the file's name: a dotted name nests (an nn.Sequential's
            # index is a name too: layer '1.0' is module 0 of module '1')
            namespace: dict = {"__name__": "exported"}
            exec(compile(code, "<exported>", "exec"), namespace)
            assert layer in dict(namespace["Net"]().named_modules())
