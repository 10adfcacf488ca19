"""The one gate, as a pure function: score rows in, a verdict with reasons out."""

from __future__ import annotations

from ddr.service.gate import DEFAULT_THRESHOLD, Score, Verdict, judge, table


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
    lines = table([Score("alpha", 0.8770, 0.9, "note"), Score("beta (top-k)", None, 1.0, "router picks")], subject="domain", caption="c")
    assert lines[0] == "domain           before    after    delta  (c)"
    assert lines[1] == "alpha             87.70    90.00    +2.30  note"
    assert lines[2] == "beta (top-k)          -   100.00    +0.00  router picks"
