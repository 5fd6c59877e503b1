"""The layout rules of DESIGN §4 that import-linter cannot state: no import cycle between any two
modules of the project, and every capability package says what it offers.

Imports inside functions count (grimp sees them): a cycle hidden in a function body is still a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("backend", "bots", "handlers")
SERVICES = ROOT / "backend" / "services"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(ROOT))
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def test_no_import_cycle_between_modules() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles between modules: " + "; ".join(" ⇄ ".join(c) for c in cycles)


def test_cycle_finder_sees_a_cycle() -> None:
    """The finder itself: a two-module cycle and a three-module one are reported, a chain is not."""
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c", "p.d", "p.e"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.d")
    graph.add_import(importer="p.d", imported="p.e")
    graph.add_import(importer="p.e", imported="p.c")
    graph.add_import(importer="p", imported="p.a")
    assert sorted(_cycles(graph)) == [["p.a", "p.b"], ["p.c", "p.d", "p.e"]]


def test_every_capability_package_documents_its_surface() -> None:
    packages = sorted(p for p in SERVICES.iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert packages, "no capability packages found"
    for package in packages:
        init = package / "__init__.py"
        assert init.exists(), f"{package.name} has no __init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{package.name}/__init__.py has no docstring"
        exported = [node for node in tree.body if isinstance(node, ast.Assign)
                    and any(getattr(t, "id", None) == "__all__" for t in node.targets)]
        assert exported, f"{package.name}/__init__.py has no __all__"


def test_services_folder_shows_the_capabilities_at_a_glance() -> None:
    entries = [p.name for p in SERVICES.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 13, sorted(entries)


def test_a_channel_importing_an_inner_module_breaks_the_contract(tmp_path: Path) -> None:
    """The protected contract in pyproject.toml really refuses a channel reaching into a package."""
    probe = ROOT / "handlers" / "_probe_inner_import.py"
    probe.write_text("from backend.services.reports import workflow  # noqa: F401\n", encoding="utf-8")
    try:
        result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
                                cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    finally:
        probe.unlink()
    assert result.returncode != 0, result.stdout[-2000:]
    assert "handlers._probe_inner_import -> backend.services.reports.workflow" in result.stdout
