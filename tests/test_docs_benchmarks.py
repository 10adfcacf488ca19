"""docs/benchmarks.md is exactly what benchmarks/report_docs.py renders from benchmarks/results/*.json."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _report_docs():
    # benchmarks/ is not an installed package: load the script from its path
    spec = importlib.util.spec_from_file_location("ddr_bench_report_docs", ROOT / "benchmarks" / "report_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmarks_doc_is_current():
    rendered = _report_docs().render(RESULTS)
    committed = (ROOT / "docs" / "benchmarks.md").read_text()
    assert rendered == committed, "docs/benchmarks.md differs from the results JSON: run python benchmarks/report_docs.py"


def test_benchmarks_doc_quotes_the_continual_results():
    rendered = _report_docs().render(RESULTS)
    for name in ("continual.json", "continual_v1.json"):
        continual = json.loads((RESULTS / name).read_text())
        prior = continual["average"]["DDR-prior"]
        assert f"**{prior:.2f}**" in rendered, name
        assert f"| DDR-prior | {continual['table']['scifact']['DDR-prior']:.2f} |" in rendered, name


def test_current_continual_table_gives_n_per_collection():
    current = json.loads((RESULTS / "continual.json").read_text())
    rendered = _report_docs().render(RESULTS)
    header = "| system | " + " | ".join(f"{c} (n={current['n'][c]['test']})" for c in current["order"]) + " | **average** |"
    assert header in rendered
    hybrid = current["average"]["BM25 + DDR-topk"]
    assert f"| BM25 + DDR-topk | {current['table']['scifact']['BM25 + DDR-topk']:.2f} |" in rendered
    assert f"**{hybrid:.2f}**" in rendered


def test_readme_headline_is_the_current_run():
    current = json.loads((RESULTS / "continual.json").read_text())["average"]
    readme = (ROOT / "README.md").read_text().replace("\n", " ")
    for system in ("BM25", "plain", "DDR-topk"):
        assert f"{system} {current[system]:.1f}" in readme, system
    assert f"BM25 + plain {current['BM25 + plain']:.1f}" in readme and f"BM25 + DDR-topk {current['BM25 + DDR-topk']:.1f}" in readme
    assert f"reaches {current['query-encoder fine-tune']:.1f}" in readme and f"{current['BM25 + fine-tune']:.1f} fused" in readme
