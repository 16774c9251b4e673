"""The import graph of ``acquisition``, read from the source with ``ast`` (every import
statement, also inside functions and ``TYPE_CHECKING`` blocks): one-way layers, no cycles.

Layers, bottom to top: base (clock, signals) < transport < instruments < safety | sim < session <
cli. A module imports modules of lower layers and of its own package only; safety and sim stand
side by side and never import each other. ``afmcurrent`` never imports ``acquisition``."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "acquisition"

#: Package (or base module) -> (rank, group). Equal ranks of different groups are siblings.
LAYERS = {
    "acquisition.clock": (1, "base"),
    "acquisition.signals": (1, "base"),
    "acquisition.transport": (2, "transport"),
    "acquisition.instruments": (3, "instruments"),
    "acquisition.safety": (4, "safety"),
    "acquisition.sim": (4, "sim"),
    "acquisition.session": (5, "session"),
    "acquisition.cli": (6, "cli"),
}
#: The package itself and its deprecated aliases: above nothing, imported by nothing.
ROOT_MODULES = {"acquisition", "acquisition._deprecated"}


def _modules(package: Path, name: str) -> dict[str, Path]:
    found = {}
    for path in package.rglob("*.py"):
        rel = path.relative_to(package.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    assert name in found
    return found


def _is_package(module: str, modules: dict[str, Path]) -> bool:
    return modules[module].name == "__init__.py"


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The acquisition modules ``module`` imports (a name imported from a package that is a
    submodule counts as that submodule)."""
    package = module if _is_package(module, modules) else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names]
            targets = [s for s in subs if s in modules] or [target]
        else:
            continue
        for t in targets:
            while t and t not in modules and "." in t:
                t = t.rpartition(".")[0]
            if t in modules and t != module:
                out.add(t)
    return out


def _layer(module: str) -> tuple[int, str]:
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


@pytest.fixture(scope="module")
def graph():
    modules = _modules(PACKAGE, "acquisition")
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def test_every_module_has_a_layer_and_the_layers_exist(graph):
    groups = {_layer(m)[1] for m in graph if m not in ROOT_MODULES}
    assert groups == {g for _, g in LAYERS.values()}
    assert len(graph) > 40  # the walk found the tree, not an empty folder


def test_imports_go_one_way_down_the_layers(graph):
    wrong = []
    for module, targets in graph.items():
        for t in targets:
            if t in ROOT_MODULES:
                if module != "acquisition" or t != "acquisition._deprecated":
                    wrong.append(f"{module} -> {t}")
                continue
            if module in ROOT_MODULES:
                wrong.append(f"{module} -> {t} (the package root imports no layer)")
                continue
            (rank, group), (t_rank, t_group) = _layer(module), _layer(t)
            if group == t_group:
                continue
            if t_rank >= rank:
                wrong.append(f"{module} ({group}) -> {t} ({t_group})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


def test_no_cycles(graph):
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_layer_rules_catch_a_wrong_import(graph):
    """The checks can fail: an instrument importing the session layer is refused."""
    bad = {**graph, "acquisition.instruments.source": graph["acquisition.instruments.source"]
           | {"acquisition.session.run"}}
    with pytest.raises(AssertionError, match="instruments.source"):
        test_imports_go_one_way_down_the_layers(bad)
    looped = {**graph, "acquisition.transport.errors": {"acquisition.transport.scpi"}}
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_cycles(looped)


def test_afmcurrent_never_imports_acquisition():
    offenders = []
    for path in (ROOT / "afmcurrent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom)
                     and not node.level else [])
            if any(n == "acquisition" or n.startswith("acquisition.") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders


@pytest.mark.parametrize("old, name, new", [
    ("acquisition.sources", "BiasSource", "acquisition.instruments"),
    ("acquisition.storage", "read_scan", "acquisition.session"),
    ("acquisition.storage", "supervisor_report_path", "acquisition.safety.supervisor"),
    ("acquisition.simulator", "VirtualKeithley", "acquisition.sim"),
    ("acquisition.controllers", "SimulatedAFM", "acquisition.sim"),
    ("acquisition.harness", "Moment", "acquisition.sim.harness"),
])
def test_documented_old_paths_import_with_a_deprecation_warning(monkeypatch, old, name, new):
    import importlib
    import sys

    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
    assert name in module.__all__


def test_undocumented_old_paths_are_gone():
    import importlib

    for old in ("acquisition.link", "acquisition.protocol", "acquisition.state",
                "acquisition.supervisor", "acquisition.watchdog"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)
