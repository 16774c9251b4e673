"""The import graph of afmcurrent: layers imported top to bottom only, no cycle.

Every module is parsed with ``ast`` (nothing is imported), and every import of an afmcurrent
module counts, at module level, inside functions and under ``TYPE_CHECKING`` alike. Layers,
bottom to top (``docs/architecture.md``): core < io < pair < sim < outputs < sets < cli; the
package's own ``__init__``, ``__main__`` and ``_compat`` sit above them all.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "afmcurrent"
LAYERS = ("core", "io", "pair", "sim", "outputs", "sets", "cli")
#: Imports against the layer order that are allowed, each with its reason.
ALLOWED_UPWARD = {
    ("afmcurrent.pair.result", "afmcurrent.outputs.summary"):
        "deprecated alias PairResult.summary(), removed with it",
    ("afmcurrent.pair.result", "afmcurrent.outputs.writers"):
        "deprecated alias PairResult.write(), removed with it",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers of the statements inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, inner.end_lineno + 1))
    return lines


@functools.cache
def imports(name: str) -> list[tuple[str, bool, bool]]:
    """(imported afmcurrent module, at function level, only for type checking) of a module."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = _type_checking_lines(tree)
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(range(node.lineno, node.end_lineno + 1))
    out = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:  # a submodule imported by name is an edge to it
                sub = f"{mod}.{a.name}"
                targets.append(sub if sub in MODULES else mod)
        for t in targets:
            if t == "afmcurrent" or t.startswith("afmcurrent."):
                while t not in MODULES:  # "afmcurrent.x.name" -> the module that defines it
                    t = t.rpartition(".")[0]
                out.append((t, node.lineno in in_function, node.lineno in typing_only))
            assert not t.split(".")[0] == "acquisition", f"{name} imports acquisition"
    return out


def layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else len(LAYERS)


def test_every_module_is_in_a_layer():
    loose = [n for n in MODULES if layer(n) == len(LAYERS)]
    assert sorted(loose) == ["afmcurrent", "afmcurrent.__main__", "afmcurrent._compat"]


def test_layers_import_downwards_only():
    bad = []
    for name in MODULES:
        for target, _, _ in imports(name):
            if layer(target) > layer(name) and (name, target) not in ALLOWED_UPWARD:
                bad.append(f"{name} -> {target}")
    assert not bad, "imports against the layer order:\n" + "\n".join(sorted(set(bad)))


def test_no_import_cycle():
    """No cycle among the imports that run (``TYPE_CHECKING`` blocks do not)."""
    graph = {n: sorted({t for t, _, typing in imports(n) if not typing and t != n
                        and (n, t) not in ALLOWED_UPWARD}) for n in MODULES}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    cycles = []

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        stack.append(n)
        for m in graph[n]:
            if state.get(m) == 1:
                cycles.append(" -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m, stack)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_function_level_imports_of_afmcurrent_are_the_documented_ones():
    """Inside functions afmcurrent modules are imported only by the CLI's sub-commands (fast
    start), the deprecated aliases, and (not ours to change here) the registration package."""
    found = sorted({f"{name} -> {t}" for name in MODULES for t, in_fn, _ in imports(name)
                    if in_fn and not name.startswith(("afmcurrent.cli.",
                                                      "afmcurrent.pair.registration."))
                    and (name, t) not in ALLOWED_UPWARD})
    assert found == []


def test_the_graph_parser_sees_a_known_edge():
    """The test above cannot pass by reading nothing: known imports are found."""
    edges = {(n, t) for n in MODULES for t, _, _ in imports(n)}
    assert ("afmcurrent.pair.pipeline", "afmcurrent.pair.registration") in edges
    assert ("afmcurrent.sets.run", "afmcurrent.sets.pooled") in edges
    assert ("afmcurrent.cli.analyze", "afmcurrent.pair.pipeline") in edges  # in a function
    assert ("afmcurrent.io.nanoscope.read", "afmcurrent.io._meta") in edges  # from .. import


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.endswith("__main__")))
def test_every_module_imports(name):
    """Every module imports (a file that parses but does not import fails here; ``__main__``
    modules run the command on import and are left out)."""
    import importlib

    importlib.import_module(name)
