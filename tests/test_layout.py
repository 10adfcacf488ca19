"""The codebase's shape: rooms with one-way imports, no cycles, small files and short service functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from importgraph import imports_of

ROOT = Path(__file__).resolve().parents[1]
ROOMS = {  # folder -> import name (pyproject maps them under ddr.)
    "ddr": "ddr", "cli": "ddr.cli", "service": "ddr.service", "registry": "ddr.registry", "modules": "ddr.modules",
    "trainer": "ddr.trainer", "retrieval": "ddr.retrieval", "hub": "ddr.hub", "migrations": "ddr.migrations", "server": "ddr.server",
}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in ROOMS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path, *, module_level: bool) -> set[str]:
    """ddr modules ``name`` imports (module level only: what runs at import time; TYPE_CHECKING blocks excluded)."""
    return imports_of(name, path, MODULES, module_level=module_level)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


@pytest.mark.parametrize("module_level", [True, False], ids=["module-level", "function-level-too"])
def test_no_import_cycle(module_level):
    graph = {m: {i for i in _imports(m, p, module_level=module_level) if i in MODULES and i != m} for m, p in MODULES.items()}
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


FORBIDDEN = {  # room -> what it must never import, at any level
    "ddr.registry": ("torch", "transformers", "ddr.modules.encoder", "ddr.service", "ddr.cli", "ddr.hub"),
    "ddr.hub": ("torch", "transformers", "ddr.service", "ddr.cli", "ddr.modules.encoder", "ddr.modules.prefix"),
    "ddr.modules": ("ddr.registry", "ddr.service", "ddr.cli", "ddr.hub", "sqlalchemy"),
    "ddr.trainer": ("ddr.registry", "ddr.service", "ddr.cli", "ddr.hub", "sqlalchemy"),
    "ddr.retrieval": ("ddr.registry", "ddr.service", "ddr.cli"),
    "ddr.service": ("ddr.cli", "ddr.server"),
    "ddr.server": ("ddr.cli", "ddr.registry", "ddr.trainer", "ddr.hub", "ddr.modules", "ddr.retrieval"),
}


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_one_way_imports(room):
    bad = []
    for name, path in MODULES.items():
        if name == room or name.startswith(room + "."):
            tree = ast.parse(path.read_text())
            imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
            imported |= _imports(name, path, module_level=False)
            bad += [f"{name} imports {i}" for i in sorted(imported) if any(i == f or i.startswith(f + ".") for f in FORBIDDEN[room])]
    assert bad == []


def _service_imports_of_the_server() -> dict[str, set[str]]:
    """ddr.server module -> the ddr.service modules it imports (at any level, TYPE_CHECKING blocks included)."""
    out = {}
    for name, path in MODULES.items():
        if name == "ddr.server" or name.startswith("ddr.server."):
            tree = ast.parse(path.read_text())
            imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            imported |= _imports(name, path, module_level=False)
            out[name] = {i for i in imported if i == "ddr.service" or i.startswith("ddr.service.")}
    return out


def test_the_server_reaches_the_library_only_through_system():
    found = _service_imports_of_the_server()
    assert [f"{m} imports {i}" for m, imports in sorted(found.items()) for i in sorted(imports) if i != "ddr.service.system"] == []
    assert any("ddr.service.system" in imports for imports in found.values())  # it does go through System: the check is not vacuous


def test_ddr_package_holds_no_business_logic():
    assert sorted(p.name for p in (ROOT / "ddr").glob("*.py")) == ["__init__.py", "__main__.py", "errors.py"]


def test_files_stay_small():
    assert [f"{p.relative_to(ROOT)}: {n}" for p in MODULES.values() if (n := len(p.read_text().splitlines())) > 400] == []


def test_service_functions_stay_short():
    long = []
    for name, path in MODULES.items():
        if name.startswith("ddr.service"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert long == []


def test_cli_and_configs_import_nothing_heavy():
    """``ddr-registry --help`` and every config class load neither torch nor SQLAlchemy (the registry loads when a command opens it)."""
    code = (
        "import sys, ddr.cli.app, ddr.modules.config, ddr.trainer.config, ddr.service.gate\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sqlalchemy', 'faiss') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_both_rooms_name_the_same_files():
    from ddr.modules import checks
    from ddr.registry import layout

    assert layout.CORE_FILES == (checks.WEIGHTS_FILE, checks.CONFIG_FILE)


def _layout_section() -> dict[str, str]:
    """docs/design.md's "Code layout" bullets: folder -> its text."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Code layout", 1)[1].split("\n## ", 1)[0]
    bullets = {}
    for chunk in section.split("\n- ")[1:]:
        folder = chunk.split("`", 2)[1]
        bullets[folder.rstrip("/")] = chunk
    return bullets


def test_design_doc_layout_names_every_room_and_only_files_that_exist():
    bullets = _layout_section()
    assert set(ROOMS) | {"benchmarks"} <= set(bullets), sorted(set(ROOMS) - set(bullets))
    import re

    missing = []
    for folder, chunk in bullets.items():
        base = ROOT / folder
        if folder not in ROOMS and folder != "benchmarks":
            continue
        for name in re.findall(r"`([\w/]+\.py)`", chunk):
            if not ((base / name).is_file() or (ROOT / name).is_file()):
                missing.append(f"{folder}/: {name}")
        for sub in re.findall(r"`(\w+)/`", chunk):
            if sub != folder and sub not in ROOMS and not (base / sub).is_dir():
                missing.append(f"{folder}/: {sub}/")
    assert missing == []
