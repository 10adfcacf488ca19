"""The one gate: held-out scores in, a verdict with its reasons out; and the one way to activate.

add-domain, update-domain, retrain-router and train-general all score a candidate against what is
live on held-out queries and hand the rows to :func:`judge`, a pure function. :func:`activate`
then moves the production alias if the verdict (or ``--force``) allows. Refused candidates stay
registered, so they can be inspected or activated by hand. No torch here.

Each guarded row carries the per-query differences it was computed from, so the gate can tell a
drop that is noise (one query of nine) from one that is harm: see :data:`RULES`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports this module: no SQLAlchemy at start-up
    from ddr.registry import Registry
    from ddr.registry.aliases import Expected

DEFAULT_THRESHOLD = 0.5  # the largest held-out nDCG@10 drop, in points, a guarded row may show
CONFIDENCE = 0.95  # of the one-sided bounds the statistical rules use
# "mean": the point estimate of a row's drop may not pass the threshold (the rule before per-query data);
# "significant": refuse a drop past the threshold only if it is also beyond noise (its one-sided lower
#     confidence bound is above zero): one bad query of nine is not evidence, nine slightly bad ones are;
# "bound": refuse only a drop whose one-sided lower confidence bound itself passes the threshold;
# "pooled": "significant" per row, and also refuse when the drop pooled over every guarded row (each row
#     weighted equally, its standard error from its own queries) is past the threshold and beyond noise;
# "shrunk" (the default): empirical Bayes. Each row's drop is shrunk toward the mean drop of all guarded
#     rows in proportion to its noise (weight tau² / (tau² + se²), tau² the spread between rows beyond their
#     noise), and a shrunk drop past the threshold refuses. A drop measured on 161 queries stands as
#     measured; one measured on 4 counts mostly as evidence about the addition as a whole.
#     benchmarks/gate_sim.py: over 216 simulated decisions it refused 12.9 % of harmless additions (mean:
#     35.7 %) and let through 43.2 % of harmful ones (mean: 24.0 %); see docs/benchmarks.md.
RULES = ("mean", "significant", "bound", "pooled", "shrunk")
DEFAULT_RULE = "shrunk"
PRODUCTION = "production"  # the alias a passed gate moves


@dataclass(frozen=True)
class Score:
    """One held-out comparison: nDCG@10 (0..1) of what is live (``before``) and of the candidate.

    ``must_beat``: the candidate must score strictly above this (a new domain module must beat the
    general prefix alone). ``guarded``: a drop of more than the threshold refuses the candidate.
    A row with ``before`` None and nothing to beat is information only.
    """

    name: str
    before: float | None
    after: float
    note: str = ""
    must_beat: float | None = None
    must_beat_label: str = ""
    guarded: bool = True
    diffs: tuple[float, ...] = ()  # per held-out query, after - before (nDCG, 0..1): the paired evidence

    @property
    def delta(self) -> float:
        """after - before, in points (0 when there is no before)."""
        return 0.0 if self.before is None else 100 * (self.after - self.before)

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def stderr(self) -> float | None:
        """Standard error of the mean difference, in points (None below two queries)."""
        if self.n < 2:
            return None
        mean = sum(self.diffs) / self.n
        var = sum((d - mean) ** 2 for d in self.diffs) / (self.n - 1)
        return 100 * math.sqrt(var / self.n)

    def interval(self, confidence: float = 0.9) -> tuple[float, float] | None:
        """Two-sided ``confidence`` interval of the delta, in points (Student t on the paired differences)."""
        se = self.stderr
        if se is None:
            return None
        t = _t(confidence + (1 - confidence) / 2, self.n - 1)
        return self.delta - t * se, self.delta + t * se


def compare(name: str, before: Sequence[float], after: Sequence[float], note: str = "", **kw: Any) -> Score:
    """A row from paired per-query scores (the same queries, in the same order); ``kw``: the other :class:`Score` fields."""
    if len(before) != len(after) or not before:
        raise ValueError("compare needs the same non-empty set of queries before and after")
    diffs = tuple(a - b for a, b in zip(after, before))
    return Score(name, sum(before) / len(before), sum(after) / len(after), note, diffs=diffs, **kw)


def _t(p: float, df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(p, df))


def drop_bound(s: Score, confidence: float = CONFIDENCE) -> float | None:
    """One-sided lower confidence bound of a row's drop, in points (None without per-query data)."""
    if s.stderr is None:
        return None
    return -s.delta - _t(confidence, s.n - 1) * s.stderr


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...] = ()


def judge(
    scores: Sequence[Score], *, threshold: float = DEFAULT_THRESHOLD, require_mean_gain: bool = False, rule: str = DEFAULT_RULE,
    confidence: float = CONFIDENCE,
) -> Verdict:
    """The gate's rules, applied to every row; ``require_mean_gain``: the guarded rows must gain on average."""
    if rule not in RULES:
        raise ValueError(f"gate rule must be one of {RULES}, got {rule!r}")
    reasons = []
    guarded = [s for s in scores if s.guarded and s.before is not None]
    for s in scores:
        if s.must_beat is not None and s.after <= s.must_beat:
            reasons.append(f"{s.name}: held-out nDCG@10 {100 * s.after:.2f} does not beat {s.must_beat_label} {100 * s.must_beat:.2f}")
    shrunk = _shrink(guarded) if rule == "shrunk" else {}
    for s in guarded:
        reason = _row_reason(s, rule, threshold, confidence, shrunk.get(s.name))
        if reason:
            reasons.append(reason)
    if rule == "pooled" and len(guarded) > 1 and all(s.stderr is not None for s in guarded):
        drop = -sum(s.delta for s in guarded) / len(guarded)
        se = math.sqrt(sum(s.stderr**2 for s in guarded)) / len(guarded)
        bound = drop - _t(confidence, sum(s.n for s in guarded) - len(guarded)) * se
        if drop > threshold and bound > 0:
            reasons.append(f"the earlier domains together dropped {drop:.2f} points (> {threshold}), beyond noise (bound {bound:.2f})")
    if require_mean_gain and sum(s.delta for s in guarded) <= 0:
        reasons.append("no held-out gain on average")
    return Verdict(not reasons, tuple(reasons))


def _shrink(rows: Sequence[Score]) -> dict[str, float]:
    """Each row's drop (points) shrunk toward the rows' mean drop by its standard error (empirical Bayes)."""
    drops = [-r.delta for r in rows]
    ses = [r.stderr or 0.0 for r in rows]
    if len(rows) < 2:
        return {r.name: d for r, d in zip(rows, drops)}
    mean = sum(drops) / len(drops)
    spread = sum((d - mean) ** 2 for d in drops) / (len(drops) - 1)
    tau2 = max(0.0, spread - sum(se**2 for se in ses) / len(ses))
    out = {}
    for r, d, se in zip(rows, drops, ses):
        w = 1.0 if tau2 + se**2 == 0 else tau2 / (tau2 + se**2)
        out[r.name] = w * d + (1 - w) * mean
    return out


def _row_reason(s: Score, rule: str, threshold: float, confidence: float, shrunk: float | None = None) -> str | None:
    drop = -s.delta
    if rule == "shrunk" and s.stderr is not None:
        if shrunk is not None and shrunk > threshold and drop > 0:
            return f"{s.name}: dropped {drop:.2f} points on {s.n} queries; weighed against the other domains by its noise, {shrunk:.2f} (> {threshold})"
        return None
    bound = drop_bound(s, confidence) if rule not in ("mean", "shrunk") else None
    if bound is None:  # the mean rule, or no per-query data: the point estimate decides
        return f"{s.name}: dropped {drop:.2f} points (> {threshold})" if drop > threshold else None
    if rule == "bound" and bound > threshold:
        return f"{s.name}: dropped {drop:.2f} points on {s.n} queries, more than {threshold} beyond noise (one-sided {confidence:.0%} bound {bound:.2f})"
    if rule in ("significant", "pooled") and drop > threshold and bound > 0:
        return f"{s.name}: dropped {drop:.2f} points (> {threshold}) on {s.n} queries, beyond noise (one-sided {confidence:.0%} bound {bound:.2f})"
    return None


def activate(reg: Registry, ref: str, verdict: Verdict, *, force: bool, action: str, expect: int | Expected | None) -> bool:
    """Point the production alias at ``ref`` if the verdict passed or ``force``; True when it moved.

    ``expect`` is the alias's target when the command read what was live (None: unset), or an
    :class:`~ddr.registry.aliases.Expected` that also names other aliases the decision rested on. The
    move is a compare-and-set on all of them: if anything moved meanwhile (a rollback, another
    add-domain), nothing moves and the error says what changed and how to go on; ``ref`` stays
    registered. The target's files are verified first, except those the command verified already
    (:meth:`~ddr.registry.artifacts.Artifacts.verifying_once`).
    """
    from ddr.registry import AliasMovedError
    from ddr.registry.aliases import set_alias

    if not (force or verdict.passed):
        return False
    try:
        set_alias(reg, ref, PRODUCTION, reason=f"{action}: {'forced' if verdict.reasons else 'gate passed'}", expect=expect)
    except AliasMovedError as exc:
        raise AliasMovedError(
            f"{exc}; {ref} is registered but not live: run {action} again to decide against what is live now, "
            f"or make it live as it is with: ddr-registry alias set {ref} {PRODUCTION}"
        ) from None
    return True


def table(scores: Sequence[Score], *, subject: str, caption: str) -> list[str]:
    """The rows as printed under every gated command (held-out nDCG@10 x 100): n, before, after, delta
    and its 90% interval where the row has per-query data."""
    width = max([14, *(len(s.name) for s in scores)])
    lines = [f"{subject:{width}s} {'n':>4s} {'before':>8s} {'after':>8s} {'delta':>8s} {'90% interval':>16s}  ({caption})"]
    for s in scores:
        before = "-" if s.before is None else f"{100 * s.before:.2f}"
        ci = s.interval(0.9) if s.before is not None else None
        interval = f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "-"
        n = str(s.n) if s.n else "-"
        lines.append(f"{s.name:{width}s} {n:>4s} {before:>8s} {100 * s.after:8.2f} {s.delta:+8.2f} {interval:>16s}  {s.note}".rstrip())
    return lines
