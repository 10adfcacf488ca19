"""BEIR-style metrics through ir-measures (trec_eval semantics), never hand-written."""

from __future__ import annotations

PRIMARY = "nDCG@10"
MEASURES = ("nDCG@10", "R@100", "RR@10")


def evaluate(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean of each measure over the judged queries (a query with no results scores 0)."""
    import ir_measures

    measures = [ir_measures.parse_measure(m) for m in MEASURES]
    # calc_aggregate averages over every judged query, scoring one missing from the run as 0
    # (asserted in tests/test_beir.py).
    agg = ir_measures.calc_aggregate(measures, qrels, run)
    return {str(m): float(agg[m]) for m in measures}


def per_query(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], measure: str = PRIMARY) -> dict[str, float]:
    """``measure`` for every judged query (0 for one the run returns nothing for): the paired figures a
    gate compares."""
    import ir_measures

    scores = {q: 0.0 for q in qrels}
    for m in ir_measures.iter_calc([ir_measures.parse_measure(measure)], qrels, run):
        if m.query_id in scores:
            scores[m.query_id] = float(m.value)
    return scores
