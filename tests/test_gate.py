"""The one gate, as a pure function: score rows in, a verdict with reasons out."""

from __future__ import annotations

import pytest

from ddr.service.gate import DEFAULT_THRESHOLD, RULES, Score, Verdict, judge, table


def test_passes_when_nothing_drops_and_the_new_module_beats_its_baseline():
    rows = [Score("new", 0.40, 0.45, must_beat=0.40, must_beat_label="general-only", guarded=False), Score("old", 0.60, 0.598)]
    assert judge(rows) == Verdict(True, ())


def test_a_drop_past_the_threshold_refuses_with_the_figure():
    verdict = judge([Score("old", 0.60, 0.594)], threshold=0.5)
    assert not verdict.passed
    assert verdict.reasons == ("old: dropped 0.60 points (> 0.5)",)
    assert judge([Score("old", 0.60, 0.594)], threshold=1.0).passed  # the threshold is what it says


def test_a_new_module_that_does_not_beat_general_only_is_refused():
    verdict = judge([Score("new", 0.40, 0.40, must_beat=0.40, must_beat_label="general-only", guarded=False)])
    assert verdict.reasons == ("new: held-out nDCG@10 40.00 does not beat general-only 40.00",)


def test_information_rows_never_refuse():
    assert judge([Score("new (top-k)", None, 0.0, guarded=False), Score("x", None, 0.1)]).passed


def test_mean_gain_rule():
    rows = [Score("a", 0.50, 0.503), Score("b", 0.50, 0.496)]  # -0.1 points on average, no single drop past 0.5
    assert judge(rows).passed
    assert judge(rows, require_mean_gain=True).reasons == ("no held-out gain on average",)
    assert judge([Score("a", 0.5, 0.51), Score("b", 0.5, 0.496)], require_mean_gain=True).passed


def test_every_reason_is_reported_not_just_the_first():
    rows = [Score("new", 0.3, 0.2, must_beat=0.3, must_beat_label="v1", guarded=True), Score("old", 0.9, 0.1)]
    assert len(judge(rows, threshold=DEFAULT_THRESHOLD).reasons) == 3


def test_table_rows():
    rows = [gate_compare("alpha", [0.8, 0.9], [0.85, 0.95], "note"), Score("beta (top-k)", None, 1.0, "router picks")]
    lines = table(rows, subject="domain", caption="c")
    assert lines[0] == "domain            n   before    after    delta     90% interval  (c)"
    assert lines[1] == "alpha             2    85.00    90.00    +5.00   [+5.00, +5.00]  note"
    assert lines[2] == "beta (top-k)      -        -   100.00    +0.00                -  router picks"


def gate_compare(*args, **kw):
    from ddr.service.gate import compare

    return compare(*args, **kw)


def test_interval_is_a_paired_t_interval():
    from scipy.stats import t

    row = gate_compare("d", [0.5, 0.5, 0.5, 0.5], [0.6, 0.4, 0.55, 0.5])
    diffs = [10.0, -10.0, 5.0, 0.0]
    mean = sum(diffs) / 4
    se = (sum((d - mean) ** 2 for d in diffs) / 3 / 4) ** 0.5
    lo, hi = row.interval(0.9)
    assert row.delta == pytest.approx(mean) and row.n == 4
    assert (lo, hi) == pytest.approx((mean - t.ppf(0.95, 3) * se, mean + t.ppf(0.95, 3) * se))


NINE = [0.5] * 9


def test_one_query_of_nine_is_noise_to_the_bound_rule_but_not_to_the_mean_rule():
    row = gate_compare("cisi", NINE, [0.5] * 8 + [0.16])  # one misrouted query: -3.78 points on average
    assert not judge([row], rule="mean").passed
    assert judge([row], rule="bound").passed


def test_a_consistent_drop_is_harm_to_every_rule():
    row = gate_compare("cisi", NINE, [0.48, 0.47, 0.475, 0.48, 0.47, 0.475, 0.48, 0.47, 0.475])  # about -2.5 on every query
    for rule in RULES:
        verdict = judge([row], rule=rule)
        assert not verdict.passed, rule
    assert "beyond noise" in judge([row], rule="bound").reasons[0]


def test_pooled_rule_sees_small_drops_spread_over_many_domains():
    rows = [gate_compare(f"d{i}", [0.5] * 30, [0.5 - 0.008 + (0.01 if j % 2 else -0.01) for j in range(30)]) for i in range(5)]
    assert judge(rows, rule="bound").passed  # no single domain's drop (0.8) is beyond noise past 0.5
    assert not judge(rows, rule="pooled", threshold=0.5).passed


def test_rules_fall_back_to_the_mean_without_per_query_data():
    assert not judge([Score("old", 0.60, 0.59)], rule="bound").passed


def test_table_columns_stay_aligned_under_a_long_name():
    rows = [gate_compare("alpha", [0.8, 0.9], [0.85, 0.95], "note"), gate_compare("alpha (cross-fit)", [0.5, 0.5, 0.5], [0.6, 0.6, 0.7], "oof")]
    lines = table(rows, subject="domain", caption="c")
    width = len("alpha (cross-fit)")
    assert [line[:width].rstrip() for line in lines] == ["domain", "alpha", "alpha (cross-fit)"]
    assert [line[width:].split()[:2] for line in lines] == [["n", "before"], ["2", "85.00"], ["3", "50.00"]]
