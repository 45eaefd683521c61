"""The shadow comparison in the state machine: what an agreement of the canary's answers with
the live deployment's means. Pure."""

from __future__ import annotations

from datetime import datetime

from shared.judge.agreement import Agreement
from shared.machine.records import Transition, _pause, _status
from shared.machine.rollback import _begin_rollback
from shared.model import Phase, Rollout
from shared.observation import EndpointInfo
from shared.reasons import COMPARE_AGREES, COMPARE_DISAGREES


def compared(r: Rollout) -> bool:
    """Whether the shadow may end: no comparison asked for, or it agreed."""
    return r.policy.compare is None or "compare" in r.checks


def compare_step(
    r: Rollout, result: Agreement | None, now: datetime, ep: EndpointInfo
) -> Transition | None:
    """The comparison's outcome this tick, or None (none due or run: the judge goes on).
    Agreement is recorded once (the shadow may then end); a disagreement beyond a bound rolls
    back or holds for an operator, as ``compare.on_fail`` says; no data blocks the shadow's
    end (its deadline then applies) and is kept in ``checks`` for the explanation."""
    pol = r.policy.compare
    if pol is None or result is None or compared(r) or r.phase is not Phase.SHADOWING:
        return None
    evidence = {"compare": result.to_dict(), "sample": pol.sample}
    if result.no_data is not None:
        return None
    if result.agrees:
        checked = r.evolve(checks={**r.checks, "compare": {"agrees": True, **evidence}})
        return _status(
            checked,
            None,
            now,
            reason=COMPARE_AGREES,
            message=f"{r.canary} answers {_summary(result)} like {r.baseline}",
            evidence=evidence,
        )
    worst = ", ".join(f"{k} {v:.4g} > {b:g}" for k, (v, b) in result.breaches.items())
    message = f"{r.canary} answers unlike {r.baseline} on {result.paired} inputs: {worst}"
    if pol.on_fail == "rollback":
        return _begin_rollback(r, now, COMPARE_DISAGREES, message, evidence, ep=ep)
    return _pause(
        r, now, COMPARE_DISAGREES, message + "; holding for an operator", evidence=evidence
    )


def _summary(a: Agreement) -> str:
    parts = []
    if a.flip_rate is not None:
        parts.append(f"flip rate {a.flip_rate:.4g}")
    if a.mean_abs_diff is not None:
        parts.append(f"mean abs diff {a.mean_abs_diff:.4g}")
    if a.psi is not None:
        parts.append(f"PSI {a.psi:.4g}")
    return f"({', '.join(parts)} on {a.paired} inputs)"
