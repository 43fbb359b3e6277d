"""The generated package's imports, as a reader (and the interpreter) meets them: no module imports one that imports
it back, type-checking imports and imports inside functions included; a single run over your own source loads no
scale-out code."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

KINDS = ["json_api", "website", "browser", "custom"]


def module_name(package: Path, path: Path) -> str:
    """`engine.reading` for package/engine/reading.py, `engine` for its __init__.py."""
    parts = path.relative_to(package).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(package: Path, path: Path, *, at_load_only: bool = False) -> set[str]:
    """The package's modules that `path` imports (relative imports; `at_load_only`: those run when it is loaded,
    leaving out imports under TYPE_CHECKING and inside functions)."""
    name = module_name(package, path)
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    here = [part for part in here if part]
    tree = ast.parse(path.read_text())
    nodes = tree.body if at_load_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = here[: len(here) - (node.level - 1)]
        if node.module:
            module = ".".join([*base, node.module])
            found.add(module)
            found |= {defining(package, module, alias.name) for alias in node.names}  # a package's face (lazy)
        else:  # from . import ledger: each name a module of the package (or a name its __init__ gives)
            for alias in node.names:
                candidate = ".".join([*base, alias.name])
                found.add(candidate if module_path(package, candidate) else ".".join(base))
    return {module for module in found if module and module_path(package, module)}


def defining(package: Path, module: str, name: str) -> str:
    """The module of a subpackage that defines `name` at its top (`engine.source_run` for `from .engine import
    SourceRun`: a face its __init__ loads when asked), or "" (a name of a module, or given otherwise)."""
    path = module_path(package, module)
    if path is None or path.name != "__init__.py":
        return ""
    for candidate in sorted(path.parent.glob("*.py")):
        for node in ast.parse(candidate.read_text()).body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                return module_name(package, candidate)
    return ""


def module_path(package: Path, module: str) -> Path | None:
    path = package.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def import_graph(package: Path, *, at_load_only: bool = False) -> dict[str, set[str]]:
    return {
        module_name(package, path): imports_of(package, path, at_load_only=at_load_only)
        for path in package.rglob("*.py")
    }


def a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Some cycle of the graph (its modules, the first again at the end), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                return [*stack[stack.index(imported) :], imported]
            if imported not in state and (cycle := visit(imported)):
                return cycle
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_no_module_of_the_package_imports_one_that_imports_it_back(bake, kind: str) -> None:
    package = bake({"source": kind}) / "my_actor"
    assert a_cycle(import_graph(package)) is None


def test_the_graph_finds_a_cycle_through_a_type_checking_import(tmp_path: Path) -> None:
    package = tmp_path / "my_actor"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "run.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .job import Job\n")
    (package / "job.py").write_text("from . import run\n")
    assert a_cycle(import_graph(package)) in (["job", "run", "job"], ["run", "job", "run"])


def loaded_by_main(package: Path) -> set[str]:
    """The package's modules loaded when main.py is (imports at load time, followed)."""
    graph, loaded, waiting = import_graph(package, at_load_only=True), set(), ["main"]
    while waiting:
        module = waiting.pop()
        if module not in loaded:
            loaded.add(module)
            waiting += graph[module]
    return loaded


@pytest.mark.parametrize("kind", KINDS)
def test_a_single_run_loads_no_scale_out_or_incremental_code(bake, kind: str) -> None:
    """A single run (the usual one) loads no code of parallelRuns or of incremental jobs: the runs that use them
    import them. The JSON kind and your own source read through the one face and walk (paged_run.py)."""
    loaded = loaded_by_main(bake({"source": kind}) / "my_actor")
    assert not [module for module in loaded if "scale_out" in module]
    assert "engine.incremental" not in loaded
    assert "engine.incremental_items" not in loaded
    if kind in ("json_api", "custom"):
        assert {"engine.paged_run", "engine.page_commits"} <= loaded


FACE_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from my_actor import engine
found = {}
for name in engine.__all__:
    try:
        found[name] = getattr(engine, name).__module__
    except AttributeError as error:
        found[name] = "missing: " + str(error)
    except ImportError:  # a module of the face that needs the Actor's packages (not installed here): it is there
        found[name] = "present"
print(json.dumps(found))
"""


@pytest.mark.parametrize("kind", KINDS)
def test_the_engine_face_gives_each_name_or_says_it_is_not_in_this_bake(bake, kind: str) -> None:
    """Every name of the face is there, or (its module not in this kind's bake) an AttributeError that says so: never
    an import error, and `hasattr` works."""
    project = bake({"source": kind})
    probe = subprocess.run([sys.executable, "-c", FACE_PROBE, str(project)], capture_output=True, text=True, check=True)
    found = json.loads(probe.stdout)
    here = {name for name, module in found.items() if not module.startswith("missing")}
    assert "SourceError" in here
    if kind == "custom":
        assert here == set(found)
    elif kind == "json_api":
        assert here == {"SourceError", "PagedRun", "Pages"}
    else:
        assert here == {"SourceError"}
    for name, module in found.items():
        if module.startswith("missing"):
            assert f"{name} is not in this project" in module
