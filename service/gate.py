"""The one gate: held-out scores in, a verdict with its reasons out; and the one way to activate.

add-domain, update-domain, retrain-router and train-general all score a candidate against what is
live on held-out queries and hand the rows to :func:`judge`, a pure function. :func:`activate`
then moves the production alias if the verdict (or ``--force``) allows. Refused candidates stay
registered, so they can be inspected or activated by hand. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_THRESHOLD = 0.5  # the largest held-out nDCG@10 drop, in points, a guarded row may show


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

    @property
    def delta(self) -> float:
        """after - before, in points (0 when there is no before)."""
        return 0.0 if self.before is None else 100 * (self.after - self.before)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...] = ()


def judge(scores: Sequence[Score], *, threshold: float = DEFAULT_THRESHOLD, require_mean_gain: bool = False) -> Verdict:
    """The gate's rules, applied to every row; ``require_mean_gain``: the guarded rows must gain on average."""
    reasons = []
    for s in scores:
        if s.must_beat is not None and s.after <= s.must_beat:
            reasons.append(f"{s.name}: held-out nDCG@10 {100 * s.after:.2f} does not beat {s.must_beat_label} {100 * s.must_beat:.2f}")
        if s.guarded and s.before is not None and 100 * (s.before - s.after) > threshold:
            reasons.append(f"{s.name}: dropped {100 * (s.before - s.after):.2f} points (> {threshold})")
    if require_mean_gain and sum(s.delta for s in scores if s.guarded) <= 0:
        reasons.append("no held-out gain on average")
    return Verdict(not reasons, tuple(reasons))


def activate(
    reg, ref: str, verdict: Verdict, *, force: bool, action: str, expect: int | None, alias: str = "production",
    guards: dict[tuple[str, str], int | None] | None = None,
) -> bool:
    """Point ``alias`` at ``ref`` if the verdict passed or ``force``; True when it moved.

    ``expect`` is the alias's target when the command read what was live (None: unset); ``guards``
    are other aliases the decision rested on. The move is a compare-and-set on all of them: if
    anything moved meanwhile (a rollback, another add-domain), nothing moves and the error says what
    changed and how to go on; ``ref`` stays registered.
    """
    from ddr.registry import AliasMovedError
    from ddr.registry.aliases import set_alias

    if not (force or verdict.passed):
        return False
    try:
        set_alias(reg, ref, alias, reason=f"{action}: {'forced' if verdict.reasons else 'gate passed'}", expect=expect, guards=guards)
    except AliasMovedError as exc:
        raise AliasMovedError(
            f"{exc}; {ref} is registered but not live: run {action} again to decide against what is live now, "
            f"or make it live as it is with: ddr-registry alias set {ref} {alias}"
        ) from None
    return True


def table(scores: Sequence[Score], *, subject: str, caption: str) -> list[str]:
    """The rows as printed under every gated command (held-out nDCG@10 x 100)."""
    lines = [f"{subject:14s} {'before':>8s} {'after':>8s} {'delta':>8s}  ({caption})"]
    for s in scores:
        before = "-" if s.before is None else f"{100 * s.before:.2f}"
        lines.append(f"{s.name:14s} {before:>8s} {100 * s.after:8.2f} {s.delta:+8.2f}  {s.note}".rstrip())
    return lines
