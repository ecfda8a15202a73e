"""The session's labels: each candidate's decision after selection over the session and the best's confirmation.

A candidate's own test (its evidence's ``decision``) is not what a person is shown:
over a session of many candidates some noise passes any per-test rule. Here
``improved`` also needs (core/stats.py):

* to survive Benjamini–Hochberg over every candidate the session measured
  (:func:`~labconsole.core.stats.session_decisions`), and
* for a candidate that would be shown as the session's best — the largest effect
  among those still labelled improved — a fresh re-measure against the current
  main that also says improved (:func:`~labconsole.core.stats.confirm`), recorded
  as ``evidence.confirmed``. Until it has one it is *awaiting confirmation*
  (shown inconclusive), and the orchestrator re-measures it.

Pure functions of :class:`LabState`, so every view and the orchestrator agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from labconsole.core.stats import IMPROVED, INCONCLUSIVE, Comparison, confirm, session_decisions
from labconsole.lab import state as S
from labconsole.lab.evidence import comparison_of
from labconsole.lab.state import HypothesisState, LabState

# A candidate in these statuses can still be shown as a recommendation, so it is the one to confirm.
_OPEN = frozenset({S.AUTO_REVIEWED, S.AWAITING_HUMAN, S.APPROVED})


@dataclass(frozen=True)
class SessionGate:
    labels: dict[str, str]  # hyp_id -> the decision shown to a person
    comparisons: dict[str, Comparison]  # hyp_id -> its current evidence's comparison
    awaiting: tuple[str, ...]  # improved after selection, above any confirmed best, not yet re-measured
    best: str | None  # the confirmed best (labelled improved), if any

    @property
    def to_confirm(self) -> str | None:
        """The next candidate the orchestrator re-measures: the largest effect awaiting confirmation."""
        return self.awaiting[0] if self.awaiting else None

    def label(self, hyp_id: str) -> str:
        """The decision with why it is not final, e.g. ``inconclusive (awaiting confirmation)``."""
        if hyp_id in self.awaiting:
            return f"{INCONCLUSIVE} (awaiting confirmation)"
        return self.labels.get(hyp_id, "-")


def confirmation_of(h: HypothesisState) -> Comparison | None:
    """The fresh re-measure's comparison, if it was made for the candidate's current commit and evidence."""
    c = h.confirmation
    if not c or c.get("sha") != h.sha or c.get("evidence_hash") != h.evidence_hash:
        return None
    return comparison_of(c.get("summary") or {})


def session_pvalues(state: LabState, exclude: str = "") -> dict[str, float | None]:
    """Every measured candidate's one-sided p-value: the family selection runs over (``exclude`` left out)."""
    return {k: c.p_value for k, c in _comparisons(state).items() if k != exclude}


def _comparisons(state: LabState) -> dict[str, Comparison]:
    out = {}
    for h in state.hypotheses.values():
        c = comparison_of(h.evidence)
        if c is not None:
            out[h.hyp_id] = c
    return out


def session_gate(state: LabState) -> SessionGate:
    comparisons = _comparisons(state)
    labels = session_decisions(comparisons)
    confirmed: set[str] = set()
    for hyp_id, cmp in comparisons.items():
        fresh = confirmation_of(state.hypotheses[hyp_id])
        if fresh is not None:
            labels[hyp_id] = confirm(dataclasses.replace(cmp, decision=labels[hyp_id]), fresh)
            confirmed.add(hyp_id)
    # Ranked by effect; those above the best confirmed one would be shown as the best without a fresh look.
    improved = sorted(
        (k for k, d in labels.items() if d == IMPROVED), key=lambda k: comparisons[k].effect or 0.0, reverse=True
    )
    awaiting: list[str] = []
    best = None
    for hyp_id in improved:
        if hyp_id in confirmed:
            best = hyp_id
            break
        if state.hypotheses[hyp_id].status in _OPEN:
            awaiting.append(hyp_id)
    for hyp_id in awaiting:
        labels[hyp_id] = INCONCLUSIVE
    return SessionGate(labels, comparisons, tuple(awaiting), best)
