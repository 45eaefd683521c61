"""Why a rollout is where it is, in words and in numbers: the presenter every surface shares.

Pure: functions of a :class:`~shared.model.Rollout` and its latest
:class:`~shared.model.DecisionRecord` (None when the caller did not read the decisions, as in
listings). The API, the CLI, the dashboard, notifications and the decision logs all show what
these return, so a rollback reads the same everywhere:

- :func:`cause`: one plain-language line ("Rolled back: canary error rate 2.40 % vs baseline
  0.30 % (48/2000 vs 6/2000 requests), over the rollback threshold since 10:42 UTC");
- :func:`why`: the same as JSON (reason constant, metric, canary vs baseline, threshold, since);
- :func:`readings`: the judge's latest reading per metric, with progress toward the rollback
  and clear thresholds (0..1);
- :func:`stage_timing`: the stage, its start, deadline and time left;
- :func:`decision_log_fields`: flat fields for one structured log record per decision.

Which decision explains a rollout: its latest one, except while it rolls back, once it ended
(other than Succeeded) and while paused, when it is the decision that turned it that way (kept
on the rollout as ``decisive``: the latest decision is then a follow-up such as RolloutEnded).
Figures come from that decision's evidence (the judge's counts and e-values, a guardrail's
minutes, an alert, an operator's reason); percent are shown with 2 decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import reasons as R
from shared.explain_fields import decision_log_fields, stage_timing
from shared.explain_figures import (
    FOLLOW_UPS,
    error_why,
    guardrail_why,
    hhmm,
    judge_readings,
    latest_latency,
    pct,
    series_readings,
    sub,
)
from shared.model import TERMINAL, DecisionRecord, Phase, Rollout, iso, parse_time

__all__ = ["cause", "decision_log_fields", "readings", "stage_timing", "subject", "why"]

_ENDED_WORD = {
    Phase.ROLLED_BACK: "Rolled back",
    Phase.ABORTED: "Aborted",
    Phase.SUPERSEDED: "Superseded",
    Phase.FAILED: "Failed",
}
_NO_DATA = frozenset({R.NO_DATA, R.SETTLING, R.WARMING_UP, R.METRICS_UNAVAILABLE, R.NO_VERDICT})
_OPERATOR_WORD = {
    R.PAUSED_BY_OPERATOR: "paused",
    R.RESUMED: "resumed",
    R.PROMOTED_BY_OPERATOR: "promoted",
    R.ROLLBACK_BY_OPERATOR: "rolled back",
    R.ABORTED_BY_OPERATOR: "aborted",
}


@dataclass(frozen=True)
class Subject:
    """The decision that explains the rollout now, with the freshest evidence for it."""

    reason: str
    message: str
    actor: str
    at: datetime | None
    evidence: Mapping[str, Any]
    phase: Phase


def subject(r: Rollout, last: DecisionRecord | None) -> Subject:
    """Which decision explains ``r`` (see the module docstring)."""
    decisive = _decisive(r)
    turned = r.phase is Phase.ROLLING_BACK or (r.phase in TERMINAL and r.phase != Phase.SUCCEEDED)
    if decisive is not None and (turned or (r.paused and decisive.reason == r.pause_reason)):
        return decisive
    if last is not None and last.reason not in FOLLOW_UPS and last.seq >= r.seq:
        # the rollout's own status is fresher than its record (repeats update it, not the log)
        same = last.seq == r.seq and r.reason == last.reason
        evidence = r.evidence if same and r.evidence else last.evidence
        message = r.message if same and r.message else last.message
        return Subject(last.reason, message, last.actor, last.at, evidence, last.phase_to)
    actor = decisive.actor if decisive is not None and decisive.reason == r.reason else "engine"
    return Subject(r.reason, r.message, actor, r.updated_at, r.evidence, r.phase)


def _decisive(r: Rollout) -> Subject | None:
    d = r.decisive
    if not d or not d.get("reason"):
        return None
    try:
        phase = Phase(str(d.get("phase_to") or r.phase.value))
    except ValueError:
        phase = r.phase
    return Subject(
        str(d["reason"]),
        str(d.get("message") or ""),
        str(d.get("actor") or "engine"),
        parse_time(d.get("at")),
        dict(d.get("evidence") or {}),
        phase,
    )


# ------------------------------------------------------------------------------- stage words


def _stage_words(r: Rollout) -> str:
    count = len(r.policy.stages)
    if r.phase is Phase.SHADOWING:
        return f"shadow, {r.policy.shadow_percent} % mirrored"
    if 0 <= r.stage < count:
        return f"stage {r.stage + 1} of {count}, {r.stage_weight} %"
    return r.phase.value.lower()


def _state_word(r: Rollout, s: Subject) -> str:
    if r.phase in _ENDED_WORD:
        return _ENDED_WORD[r.phase]
    if r.phase is Phase.SUCCEEDED:
        return "Succeeded"
    if r.phase is Phase.ROLLING_BACK:
        return {
            Phase.ABORTED: "Aborting",
            Phase.SUPERSEDED: "Superseded, rolling back",
            Phase.FAILED: "Failed, cleaning up",
        }.get(r.outcome or Phase.ROLLED_BACK, "Rolling back")
    if r.paused:
        return "Paused"
    if s.reason in (R.NO_DATA, R.SETTLING, R.WARMING_UP):
        return "Waiting for data"
    if s.reason in (R.METRICS_UNAVAILABLE, R.JUDGE_HOLD, R.NO_VERDICT):
        return "Holding"
    return {
        Phase.PENDING: "Pending",
        Phase.PROVISIONING: "Provisioning",
        Phase.SHADOWING: "Shadowing",
        Phase.CANARY: "Canary",
        Phase.PROMOTING: "Promoting",
        Phase.WATCHING: "Watching",
    }.get(r.phase, r.phase.value)


# ------------------------------------------------------------------------------------ cause


def cause(r: Rollout, last: DecisionRecord | None) -> str:
    """One plain-language line saying why the rollout is where it is."""
    s = subject(r, last)
    line = f"{_state_word(r, s)}: {_detail(r, s)}"
    if r.hand_since is not None and r.active:
        line += (
            f"; {r.canary} serves traffic routed to it by hand since {hhmm(iso(r.hand_since))}"
            " and is judged for rollback on it"
        )
    if r.failure and r.active:
        count = int(r.failure.get("count", 1) or 1)
        line += (
            f"; an Azure call keeps failing ({r.failure.get('code') or 'error'}, "
            f"{count} time(s)): {r.failure.get('message', '')}"
        )
    return line


def _detail(r: Rollout, s: Subject) -> str:
    ev, reason = s.evidence, s.reason
    if reason in (R.JUDGE_ROLLBACK, R.JUDGE_HOLD, R.JUDGE_PROMOTE, R.SHADOW_COMPLETE):
        return _judged(r, s)
    if reason in (R.GUARDRAIL_ERROR_RATE, R.GUARDRAIL_LATENCY):
        g = guardrail_why(ev)
        if g is None:
            return s.message or reason
        return (
            f"canary {g['label']} {_fmt(g['canary'])} over the guardrail {_fmt(g['threshold'])} "
            f"for {len(g['minutes_used'])} minute(s) since {hhmm(g['since'])}"
        )
    if reason == R.ALERT_FIRED:
        rule = ev.get("rule") or ev.get("alert_id") or s.actor.removeprefix("alert:")
        severity = f" ({ev['severity']})" if ev.get("severity") else ""
        fired = f" at {hhmm(str(ev['fired_at']))}" if ev.get("fired_at") else ""
        return f"Azure Monitor alert {rule}{severity} fired on the canary{fired}"
    if reason == R.ALERT_ON_OTHER_DEPLOYMENT:
        return f"an alert fired on {', '.join(ev.get('deployments') or []) or 'another deployment'}"
    if reason in _OPERATOR_WORD:
        said = ev.get("reason") or s.message
        return f"{_OPERATOR_WORD[reason]} by {s.actor}: {said}"
    if reason == R.MANUAL_CHANGE:
        return (
            f"the live split was changed outside autocanary (live "
            f"{_split(ev.get('observed_traffic'))}, wanted {_split(ev.get('expected_traffic'))}); "
            "resume to take it over, or roll back"
        )
    if reason in (R.DEPLOYMENT_MISSING, R.ENDPOINT_MISSING, R.ROLLBACK_IMPOSSIBLE):
        return s.message or reason
    if reason == R.PROVISIONING_FAILED:
        tail = _last_line(str(ev.get("logs") or ""))
        return f"{s.message or 'the canary failed to provision'}" + (
            f"; last log line: {tail}" if tail else ""
        )
    if reason in (R.PROVISIONING_REFUSED, R.PROVISIONING_TIMEOUT, R.NO_LIVE_DEPLOYMENT):
        return s.message or reason
    if reason in (R.STAGE_DEADLINE, R.SHADOW_DEADLINE):
        most = float(ev.get("max_duration_s") or 0)
        last_reason = ev.get("verdict_reason") or ev.get("last_reason") or "undecided"
        then = (
            "rolling back"
            if r.phase is Phase.ROLLING_BACK or r.phase in _ENDED_WORD
            else "promote, roll back or abort"
        )
        what = "the shadow" if reason == R.SHADOW_DEADLINE else _stage_words(r)
        return (
            f"{what} was not cleared within its max duration {most:g} s "
            f"(last: {last_reason}); {then}"
        )
    if reason == R.TRAFFIC_CONFIRMED:
        return (
            f"split live since {hhmm(iso(s.at))} ({_split(r.traffic)}"
            + (f"; mirror {_split(r.mirror)}" if r.mirror else "")
            + f"); judging starts after a {r.policy.warmup:g} s warm-up ({_stage_words(r)})"
        )
    if reason == R.SUPERSEDED_BY_NEWER:
        return f"a newer version was registered before promotion ({s.message})"
    if reason in _NO_DATA:
        return _waiting(r, s)
    if reason == R.SUCCEEDED:
        old = r.baseline or "the old deployment"
        kept = not r.policy.delete_old_deployment or "kept" in s.message
        return f"cleared every stage; old deployment {old} {'kept' if kept else 'deleted'}"
    return f"{s.message or reason} ({_stage_words(r)})"


def _judged(r: Rollout, s: Subject) -> str:
    e = error_why(s.evidence)
    verdict = str(s.evidence.get("verdict_reason") or s.message or "")
    if e is None:
        return f"{verdict or s.reason} ({_stage_words(r)})"
    c, b = e["canary"], e["baseline"]
    figures = (
        f"canary error rate {pct(c['value'])} vs baseline {pct(b['value'])} "
        f"({c['errors']}/{c['requests']} vs {b['errors']}/{b['requests']} requests)"
    )
    if s.reason == R.JUDGE_ROLLBACK:
        if verdict == R.LATENCY_REGRESSION:
            level = str(e["metric"]).removeprefix("latency_").upper()
            c_ms, b_ms = latest_latency(r.series, str(e["metric"]))
            values = (
                f" ({c_ms:.0f} ms vs {b_ms:.0f} ms in the last settled minute)"
                if c_ms is not None and b_ms is not None
                else ""
            )
            return (
                f"canary {level} latency slower than the baseline's{values}, over the "
                f"rollback threshold; {figures}"
            )
        since = f" since {hhmm(e['since'])}" if e.get("since") else ""
        return f"{figures}, over the rollback threshold{since}"
    if s.reason in (R.JUDGE_PROMOTE, R.SHADOW_COMPLETE):
        done = "shadow" if s.reason == R.SHADOW_COMPLETE else "previous stage"
        return f"{done} cleared ({figures}); now {_stage_words(r)}"
    hold = {
        R.ACCUMULATING: "evidence accumulating",
        R.INSUFFICIENT_DATA: "too few requests yet",
        R.LATENCY_ACCUMULATING: "errors cleared, latency evidence accumulating",
        R.LATENCY_NOT_MEASURABLE: "no latency level measurable at this traffic",
        R.ERROR_RATE_CEILING: "canary error rate over the promotion ceiling",
        R.CLEARED: "cleared, waiting for the stage's minimum duration",
    }.get(verdict, verdict)
    return f"{figures}; {hold} ({_stage_words(r)})"


def _waiting(r: Rollout, s: Subject) -> str:
    ev = s.evidence
    minutes = sub(ev, "minutes")
    where = _stage_words(r)
    if s.reason == R.WARMING_UP:
        return f"warming up for {r.policy.warmup:g} s before judging ({where})"
    if s.reason == R.METRICS_UNAVAILABLE:
        why_not = s.message.removeprefix("metrics unavailable: ")
        return f"Azure Monitor metrics could not be read: {why_not} ({where})"
    if s.reason == R.SETTLING:
        read = int(minutes.get("minutes_read") or 0)
        return (
            f"{read} minute(s) read, none settled yet (a minute settles "
            f"{r.policy.settle:g} s after it ends and once it reads the same twice) ({where})"
        )
    if s.reason == R.NO_VERDICT:
        return f"no verdict yet ({where})"
    return f"no settled minute with canary traffic yet ({where})"


# -------------------------------------------------------------------------------------- why


def why(r: Rollout, last: DecisionRecord | None) -> dict[str, Any]:
    """The structured reason (JSON-ready): which metric, canary vs baseline, threshold, since."""
    s = subject(r, last)
    out: dict[str, Any] = {
        "reason": s.reason,
        "phase": r.phase.value,
        "actor": s.actor,
        "at": iso(s.at),
        "message": s.message,
        "metric": None,
        "canary": {"value": None, "unit": "%"},
        "baseline": {"value": None, "unit": "%"},
        "threshold": {"value": None, "unit": "%", "kind": None},
        "since": None,
        "minutes_used": [],
    }
    figures = (
        guardrail_why(s.evidence)
        if s.reason in (R.GUARDRAIL_ERROR_RATE, R.GUARDRAIL_LATENCY)
        else error_why(s.evidence)
    )
    if figures is not None:
        out.update({k: v for k, v in figures.items() if k != "label"})
    return out


def readings(r: Rollout, last: DecisionRecord | None) -> list[dict[str, Any]]:
    """The judge's latest reading per metric (error rate, each latency level, guardrails)."""
    s = subject(r, last)
    if s.reason in FOLLOW_UPS or s.reason not in (
        R.JUDGE_HOLD,
        R.JUDGE_PROMOTE,
        R.JUDGE_ROLLBACK,
        R.SHADOW_COMPLETE,
        R.STAGE_DEADLINE,
        R.SHADOW_DEADLINE,
        R.GUARDRAIL_ERROR_RATE,
        R.GUARDRAIL_LATENCY,
    ):
        # nothing judged behind this decision: the rollout's own latest evidence, if judged
        ev = r.evidence if "judge" in r.evidence else s.evidence
    else:
        ev = s.evidence
    return judge_readings(ev, r.series) + series_readings(r)


# ------------------------------------------------------------------------------- helpers


def _fmt(v: Mapping[str, Any]) -> str:
    value = v.get("value")
    if value is None:
        return "n/a"
    return pct(float(value)) if v.get("unit") == "%" else f"{float(value):.0f} ms"


def _split(raw: Any) -> str:
    if not isinstance(raw, Mapping) or not raw:
        return "{}"
    return ", ".join(f"{k} {v} %" for k, v in sorted(raw.items()))


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""
