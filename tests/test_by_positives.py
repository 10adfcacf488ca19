"""``evaluate --by-positives``: each collection's queries split by whether their relevant documents were
training positives of the live domain module, every system scored on both groups."""

from __future__ import annotations

import json

import pytest
from beirdata import make_domain
from click.testing import CliRunner

from ddr.service.positives import SEEN, UNSEEN, split_queries


def test_split_by_hand():
    qrels = {"a": {"d1": 1, "d9": 0}, "b": {"d2": 1, "d3": 2}, "c": {"d9": 1}, "d": {"d4": 0}}
    # a grade-0 judgement is not a relevant document: "a" counts by d1 only, "d" by nothing
    assert split_queries(qrels, ["a", "b", "c", "d"], {"d3", "d4", "d1"}) == {SEEN: ["a", "b"], UNSEEN: ["c", "d"]}
    assert split_queries(qrels, ["a", "b"], set()) == {SEEN: [], UNSEEN: ["a", "b"]}


def _domain_with_shared_documents(tmp_path):
    """make_domain's test queries (15-19) ask about documents no training query judged; add three
    test queries about training documents 0-2, so both groups are non-empty."""
    folder = make_domain(tmp_path / "data", "alpha", 0)
    queries = folder / "queries.jsonl"
    queries.write_text(queries.read_text() + "".join(json.dumps({"_id": f"extra{i}", "text": f"w{i + 1} w{i + 2}"}) + "\n" for i in range(3)))
    test = folder / "qrels" / "test.tsv"
    test.write_text(test.read_text() + "".join(f"extra{i}\talpha{i}\t1\n" for i in range(3)))
    return folder


@pytest.fixture
def added(tmp_path, tiny_path):
    from ddr.cli.app import main

    folder = _domain_with_shared_documents(tmp_path)
    home = tmp_path / "home"
    run = lambda *a: CliRunner().invoke(main, ["--home", str(home), *a])
    assert run("init").exit_code == 0
    result = run("add-domain", "alpha", "--data", str(folder), "--backbone", tiny_path, "--prefix-length", "4", "--epochs", "1", "--force", "--quiet")
    assert result.exit_code == 0, result.output
    return run, folder, tiny_path


def test_evaluate_scores_both_groups_and_they_add_up(added):
    run, folder, tiny_path = added
    result = run("evaluate", "--data", str(folder), "--backbone", tiny_path, "--by-positives", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    coll = json.loads(result.output)["collections"]["alpha"]
    split = coll["by_positives"]
    assert (split[SEEN]["queries"], split[UNSEEN]["queries"]) == (3, 5)
    assert set(split[SEEN]["systems"]) == set(coll["systems"]) == set(split[UNSEEN]["systems"])
    for name, metrics in coll["systems"].items():  # nDCG@10 is a mean over queries: the groups' means weigh back to the whole
        whole = (3 * split[SEEN]["systems"][name]["nDCG@10"] + 5 * split[UNSEEN]["systems"][name]["nDCG@10"]) / 8
        assert whole == pytest.approx(metrics["nDCG@10"]), name


def test_the_table_prints_each_group_with_its_n(added):
    run, folder, tiny_path = added
    out = run("evaluate", "--data", str(folder), "--backbone", tiny_path, "--by-positives", "--quiet").output
    assert "queries whose relevant documents were training positives" in out
    assert "queries whose relevant documents were not training positives" in out
    counts = [line.split()[-1] for line in out.splitlines() if line.startswith("n (queries)")]
    assert counts == ["3", "5"]


def test_without_a_module_for_the_corpus_it_says_so(reg, tmp_path, tiny_path):
    from ddr.service.evaluation import evaluate

    result = evaluate(reg, str(make_domain(tmp_path / "data", "alpha", 0)), backbone=tiny_path, progress=False, by_positives=True)
    assert result["collections"]["alpha"]["by_positives"] is None
    assert any("no split by training positives" in n for n in result["notes"])
