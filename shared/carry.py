"""Rollback evidence carried from one judged phase of a rollout to the next. Pure.

Each judged phase (the shadow, each live stage below 100 %) is judged by a fresh e-process at
alpha/S (S: the policy's judged phases, :func:`shared.judging.judge_settings`). Judged alone,
a phase forgets what the earlier ones saw: a canary 1.5x worse than the baseline, inside the
clearing margin (2x), can pass stage after stage on each stage's own evidence.

The carry keeps the rollout-wide guarantee (false rollbacks at most alpha over the whole
rollout) and lets the evidence add up. Component c, one per judged phase, is an e-process that
starts when phase c starts and then runs to the end of the rollout as the chain of the fresh
per-phase e-processes: each later phase multiplies it by its own e-value (a fresh e-process
started when the previous one stopped keeps the product a nonnegative supermartingale). The
average M = (1/S) sum_c E_c is one nonnegative supermartingale from the rollout's start, so by
Ville's inequality P(M ever reaches 1/alpha) <= alpha. Within phase s, whose own e-process
stands at log e-value ``l``, M = e^l x B / S with B the sum over the components started so far
of their values when phase s began: "M >= 1/alpha" is "l + log B >= log(S / alpha)", the
phase's own test with ``log B`` carried (:class:`shared.judge.Carried`). When each phase starts
its own component (worth 1 as it starts) B >= 1: the carry never weakens a phase.

A phase ends (a new stage, or the same stage restarted after its split changed) with the last
log e-value its verdicts recorded, and the next phase's ``log B`` is
- after a phase that starts a component: ``log(1 + e^(log B + l))``;
- after the same phase restarted: ``log B + l`` (no new component: it was counted when the
  phase first started), which may fall below 0.
At most S components ever start (a phase at 100 % has no baseline to compare and adds
nothing). The error rate and latency each carry their own; the rollout keeps the chain
(``Rollout.chain``) as plain data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from shared.judge.types import Carried, Verdict
from shared.judging import stage_key
from shared.model import Phase, Rollout

METRICS = ("errors", "latency")
_DIGITS = 6


def component(r: Rollout) -> str:
    """The judged phase a rollout is in (a restarted stage is the same component)."""
    return f"{r.phase.value}:{r.stage}"


def _logaddexp1(v: float) -> float:
    """log(1 + e^v) without overflow."""
    return v + math.log1p(math.exp(-v)) if v > 0 else math.log1p(math.exp(v))


def _number(raw: Any) -> float:
    try:
        v = float(raw)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def carried(r: Rollout) -> Carried:
    """The rollback evidence the rollout's current judged phase starts from."""
    base = _fold(r.chain, stage_key(r), component(r), r.policy.judged_count)
    return Carried(errors=base["errors"], latency=base["latency"])


def _fold(chain: Mapping[str, Any], segment: str, comp: str, judged: int) -> dict[str, float]:
    if not chain:
        return dict.fromkeys(METRICS, 0.0)
    base = chain.get("base") or {}
    if chain.get("segment") == segment:
        return {m: _number(base.get(m)) for m in METRICS}
    last = chain.get("last") or {}
    new_component = _starts(chain, comp, judged)
    return {
        m: fold(_number(base.get(m)), _number(last.get(m)), new_component=new_component)
        for m in METRICS
    }


def _starts(chain: Mapping[str, Any], comp: str, judged: int) -> bool:
    """Whether phase ``comp`` starts a chain of its own: the first time it is judged, while
    fewer than the policy's judged phases have started one."""
    started = chain.get("started") or ()
    return comp not in started and len(started) < max(1, judged)


def fold(log_b: float, last: float, *, new_component: bool) -> float:
    """The next phase's carried log evidence from this phase's ``log_b`` and its e-process's
    last log e-value: ``log(1 + B e^l)`` when the next phase starts a chain, ``log B + l``
    when it continues them only (a restarted phase)."""
    v = log_b + last
    return round(_logaddexp1(v) if new_component else v, _DIGITS)


JUDGED = (Phase.SHADOWING, Phase.CANARY)


def after_verdict(r: Rollout, verdict: Verdict) -> dict[str, Any]:
    """The chain to keep after this tick's verdict on the current phase: the phase's carried
    evidence and its e-process's latest log e-values (its value when it ends). Outside the
    judged phases (the watch window's guardrails have no baseline to compare) it is kept."""
    chain = r.chain
    if r.phase not in JUDGED:
        return dict(chain)
    segment, comp, judged = stage_key(r), component(r), r.policy.judged_count
    base = _fold(chain, segment, comp, judged)
    started = list(chain.get("started") or ())
    if _starts(chain, comp, judged):
        started.append(comp)
    return {
        "segment": segment,
        "component": comp,
        "started": started,
        "base": base,
        "last": last_log_e(verdict),
    }


def last_log_e(verdict: Verdict) -> dict[str, float]:
    """The current log e-value of each metric's rollback e-process, from the verdict's
    evidence (0 where the verdict has none: a phase without data multiplies by 1)."""
    ev = verdict.evidence
    latency = _section(ev, "latency")
    return {
        "errors": round(_number(_section(ev, "error_rate").get("log_e")), _DIGITS),
        "latency": round(_number(_section(latency, "rollback").get("log_e")), _DIGITS),
    }


def _section(ev: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = ev.get(key)
    return value if isinstance(value, Mapping) else {}
