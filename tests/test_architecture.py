"""The layout's rules, checked over the source: no import cycle, the daemon imported only by entry
points, every module importable on its own, and long modules say why they are long."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "livegen": ROOT / "livegen",
    "livegen.train": ROOT / "train",
    "livegen.export": ROOT / "export",
}
# Only the serve/demo entry point starts a daemon (the TUI gets a stop event, not the daemon).
DAEMON_IMPORTERS = {"livegen.live.serve_run"}
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Project modules `path` imports, lazily or at the top, type-checking imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in MODULES}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import cycle as a list of module names, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        state[name] = 2
        path.pop()
        return None

    for name in sorted(GRAPH):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_there_is_no_import_cycle() -> None:
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_only_the_entry_points_import_the_daemon() -> None:
    importers = {name for name, deps in GRAPH.items() if "livegen.live.daemon" in deps}
    assert importers <= DAEMON_IMPORTERS


def test_the_generator_and_its_modes_know_neither_the_daemon_nor_each_others_class() -> None:
    assert "livegen.live.daemon" not in GRAPH["livegen.live.live_session"]
    assert "livegen.live.live_session" not in GRAPH["livegen.live.modes"]


def test_a_long_module_says_why_in_its_docstring() -> None:
    unexplained = []
    for name, path in MODULES.items():
        text = path.read_text()
        if text.count("\n") > MAX_LINES and "Long because" not in (
            ast.get_docstring(ast.parse(text)) or ""
        ):
            unexplained.append(name)
    assert unexplained == []


RUNTIME = sorted(
    name
    for name in MODULES
    if not name.startswith(("livegen.train", "livegen.export")) and name != "livegen.__main__"
)


@pytest.mark.parametrize("name", RUNTIME)
def test_every_runtime_module_imports_on_its_own(name: str) -> None:
    probe = f"import importlib; importlib.import_module({name!r})"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_each_package_says_its_job_and_what_it_may_import() -> None:
    for package in ("livegen.inference", "livegen.live", "livegen.bench", "livegen.music"):
        doc = importlib.import_module(package).__doc__ or ""
        assert "May import" in doc, package
