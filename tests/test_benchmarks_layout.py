"""The shape of ``benchmarks/``: a package of families run as ``python -m benchmarks.<family>.<name>``.

No ``sys.path`` edits or loaders by path; the collection order written once (``benchmarks/common.py``); every
entry point listed in ``benchmarks/README.md`` and importable without running; a benchmark imports only
``benchmarks.common``, its own family and the renderers; ranking and nDCG come from the library, never an
exact top-k or ``ir_measures`` call of a benchmark's own.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import sys
from pathlib import Path

import pytest
from importgraph import imports_of

from benchmarks.common import ORDER

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
COLLECTIONS = set(ORDER)  # taken from where it is written, so that this file holds no copy
SKIP_DIRS = {".venv", ".git", "__pycache__", "build", "dist", "shared", "node_modules"}


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _bench_files() -> dict[str, Path]:
    return {_name(p): p for p in sorted(BENCH.rglob("*.py")) if "__pycache__" not in p.parts}


FILES = _bench_files()


def _is_entry(path: Path) -> bool:
    """A module with a top-level ``main`` (an entry point)."""
    return any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in ast.parse(path.read_text()).body)


def _has_main_guard(path: Path) -> bool:
    return any(isinstance(n, ast.If) and "__name__" in ast.unparse(n.test) and "__main__" in ast.unparse(n.test)
               for n in ast.parse(path.read_text()).body)


ENTRIES = sorted(n for n, p in FILES.items() if _is_entry(p))


def _family(name: str) -> str:
    """``benchmarks.quality.continual`` -> ``benchmarks.quality``; ``benchmarks.common`` -> itself."""
    parts = name.split(".")
    return ".".join(parts[:2])


def _imports(name: str, path: Path) -> set[str]:
    """Every module name ``path`` imports (anywhere in it), relative imports resolved."""
    return imports_of(name, path, FILES)


def _order_copies(text: str) -> list[int]:
    """Line numbers of list/tuple/set literals of exactly the seven collection names (a copy of the order)."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)) and len(node.elts) == len(COLLECTIONS):
            values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if set(values) == COLLECTIONS:
                found.append(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and {s.strip() for s in node.value.split(",")} == COLLECTIONS:
            found.append(node.lineno)
    return found


def _repo_python() -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        out += [Path(folder) / f for f in sorted(files) if f.endswith(".py")]
    return out


TOPK = re.compile(r"\.topk\s*\(|\btorch\.topk\b")


# --- the checks ------------------------------------------------------------------------------------------------


def test_the_entry_points_are_found():
    # the detectors below are not vacuous: the known entry points are seen as such
    assert {"benchmarks.quality.continual", "benchmarks.report.docs", "benchmarks.report.continual"} <= set(ENTRIES)
    assert "benchmarks.common" not in ENTRIES and "benchmarks.quality.continual_eval" not in ENTRIES


def test_no_sys_path_or_loader_by_path():
    tests_on_benchmarks = [p for p in (ROOT / "tests").glob("*.py") if "benchmarks" in p.read_text() and p.name != Path(__file__).name]
    bad = []
    for path in [*FILES.values(), *tests_on_benchmarks]:
        text = path.read_text()
        for needle in ("sys.path", "spec_from_file_location", "module_from_spec", "SourceFileLoader", "runpy"):
            if needle in text:
                bad.append(f"{path.relative_to(ROOT)}: {needle}")
    assert bad == []


def test_order_is_written_once_in_the_repository():
    copies = [f"{p.relative_to(ROOT)}:{line}" for p in _repo_python() for line in _order_copies(p.read_text())]
    assert copies == [f"benchmarks/common.py:{_order_copies((BENCH / 'common.py').read_text())[0]}"], copies
    assigned = [n for n, p in FILES.items() if re.search(r"^ORDER\s*=", p.read_text(), re.MULTILINE)]
    assert assigned == ["benchmarks.common"]


def test_order_detector_sees_a_copy():
    assert _order_copies(f"X = {ORDER!r}\n") == [1]
    assert _order_copies(f"y = {tuple(reversed(ORDER))!r}\n") == [1]
    assert _order_copies(f"z = {','.join(ORDER)!r}\n") == [1]
    assert _order_copies(f"w = {ORDER[:2]!r}\n") == []


def test_every_subfolder_is_a_package():
    folders = {p.parent for p in BENCH.rglob("*.py") if "__pycache__" not in p.parts}
    folders |= {d for d in BENCH.iterdir() if d.is_dir() and d.name not in ("results", "__pycache__")}
    assert [str(d.relative_to(ROOT)) for d in sorted(folders) if not (d / "__init__.py").is_file()] == []
    assert list((BENCH / "results").rglob("*.py")) == [], "results are kept apart from code"


def test_every_entry_point_keeps_its_main_guard():
    assert [n for n in ENTRIES if not _has_main_guard(FILES[n])] == []


def test_readme_lists_every_entry_point():
    readme = (BENCH / "README.md").read_text()
    listed = set(re.findall(r"python -m (benchmarks(?:\.\w+)+)", readme))
    assert [n for n in ENTRIES if n not in listed] == [], "benchmarks/README.md misses these entry points"
    assert sorted(listed - set(ENTRIES)) == [], "benchmarks/README.md lists commands that are not entry points"


def test_no_script_is_run_by_path_anywhere_in_the_readme():
    assert re.findall(r"python3? benchmarks/\S+\.py", (BENCH / "README.md").read_text()) == []


@pytest.mark.parametrize("name", sorted(FILES))
def test_imports_cleanly_without_running(name, monkeypatch):
    # an argv no benchmark accepts: a module that ran its main on import would exit here
    monkeypatch.setattr(sys, "argv", ["benchmark", "--no-such-option-anywhere"])
    module = importlib.import_module(name)
    assert module.__name__ == name
    if name in ENTRIES:
        assert callable(module.main)


@pytest.mark.parametrize("name", sorted(FILES))
def test_imports_stay_in_the_family(name):
    """A benchmark imports benchmarks.common, its own family and the renderers; a renderer only common and report."""
    family = _family(name)
    allowed = {"benchmarks", "benchmarks.common", family} | ({"benchmarks.report"} if family != "benchmarks.report" else set())
    ours = {i for i in _imports(name, FILES[name]) if i == "benchmarks" or i.startswith("benchmarks.")}
    assert sorted(i for i in ours if _family(i) not in allowed and i not in allowed) == []
    siblings = {p.stem for p in FILES.values()} - {"__init__"}
    plain = {i.split(".")[0] for i in _imports(name, FILES[name]) if not i.startswith(("benchmarks", "ddr"))} & siblings
    assert plain == set(), f"{name} imports a benchmark module by its bare name: {plain}"


def test_no_exact_top_k_or_own_metrics_in_benchmarks():
    assert TOPK.search("sims, idx = (q @ base.T).topk(k, dim=-1)")  # the pattern catches the hand-written kind
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in FILES.values() for i, line in enumerate(p.read_text().splitlines(), 1)
           if TOPK.search(line) or re.search(r"^\s*(import|from)\s+ir_measures\b", line)]
    assert bad == [], "rank with ddr.retrieval.scoring and score with ddr.retrieval.metrics"


def test_no_benchmark_imports_rank_from_the_trainer():
    bad = [n for n, p in FILES.items() if re.search(r"from ddr\.trainer\.domain import [^\n]*\b(rank|rank_and_score|per_query_ndcg)\b", p.read_text())]
    assert bad == []
