"""docs/benchmarks.md is exactly what ``python -m benchmarks.report.docs`` renders from benchmarks/results/*.json,
and results/continual.md what ``python -m benchmarks.report.continual`` renders from continual.json."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import continual as continual_report
from benchmarks.report import docs as report_docs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def test_benchmarks_doc_is_current():
    rendered = report_docs.render(RESULTS)
    committed = (ROOT / "docs" / "benchmarks.md").read_text()
    assert rendered == committed, "docs/benchmarks.md differs from the results JSON: run python -m benchmarks.report.docs"


def test_continual_markdown_is_current():
    path, text = continual_report.render(RESULTS / "continual.json")
    assert path == RESULTS / "continual.md"
    assert text == path.read_text(), "results/continual.md differs from continual.json: run python -m benchmarks.report.continual"


def test_superseded_continual_schema_is_frozen_not_rendered():
    frozen = (RESULTS / "frozen" / "continual_v1.md").read_text().split("-->\n", 1)[1]
    assert frozen in report_docs.render(RESULTS)
    for name in ("continual_v1.json", "continual_top2_cold.json"):
        old = json.loads((RESULTS / name).read_text())
        try:
            continual_report.markdown(old)
        except ValueError:
            continue
        raise AssertionError(f"{name} is of the superseded schema, yet the current renderer accepted it")


def test_benchmarks_doc_quotes_the_continual_results():
    rendered = report_docs.render(RESULTS)
    for name in ("continual.json", "continual_v1.json"):
        continual = json.loads((RESULTS / name).read_text())
        prior = continual["average"]["DDR-prior"]
        assert f"**{prior:.2f}**" in rendered, name
        assert f"| DDR-prior | {continual['table']['scifact']['DDR-prior']:.2f} |" in rendered, name


def test_current_continual_table_gives_n_per_collection():
    current = json.loads((RESULTS / "continual.json").read_text())
    rendered = report_docs.render(RESULTS)
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
