"""shared.explain: one plain-language cause and a structured why for every reason family."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared import explain
from shared import reasons as R
from shared.judge.types import Minute
from shared.model import DecisionRecord, ModelRef, Phase, Rollout
from shared.policy import Guardrails, RolloutPolicy
from shared.ports import RolloutQuery
from shared.series import merge
from shared.simulation.runner import Simulation
from shared.simulation.scenario import parse_scenario

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def _rollout(**changes: Any) -> Rollout:
    r = Rollout(
        id="r1",
        endpoint="fraud",
        model=ModelRef("fraud", "2"),
        policy=RolloutPolicy(),
        phase=Phase.CANARY,
        baseline="blue",
        canary="fraud-v2",
        created_at=T0,
        phase_since=T0,
        stage=0,
        stage_since=T0,
        traffic={"blue": 90, "fraud-v2": 10},
    )
    return r.evolve(**changes)


def _judge(
    ce: int, cn: int, be: int, bn: int, *, peak: float = 1.0, clear: float = 0.5
) -> dict[str, Any]:
    return {
        "canary_requests": cn,
        "canary_errors": ce,
        "baseline_requests": bn,
        "baseline_errors": be,
        "minutes_with_data": 3,
        "rollback_threshold_log_e": 6.0,
        "clear_threshold_log_e": 3.0,
        "error_rate": {
            "tolerance": 1.0,
            "peak_log_e": peak,
            "peak_minute": 2,
            "clear_log_e": clear,
            "clear_margin": 2.0,
            "clear_abs_margin": 0.001,
        },
        "latency": None,
    }


MINUTES = {
    "first_settled": "2026-01-05T10:40:00+00:00",
    "last_settled": "2026-01-05T10:42:00+00:00",
    "minutes_settled": 3,
    "minutes_read": 5,
}


def _record(r: Rollout, reason: str, evidence: dict[str, Any], **kw: Any) -> DecisionRecord:
    return DecisionRecord(
        seq=kw.pop("seq", r.seq),
        at=kw.pop("at", T0 + timedelta(minutes=43)),
        rollout_id=r.id,
        phase_from=kw.pop("phase_from", r.phase),
        phase_to=kw.pop("phase_to", r.phase),
        stage_from=r.stage,
        stage_to=r.stage,
        reason=reason,
        message=kw.pop("message", ""),
        actor=kw.pop("actor", "engine"),
        evidence=evidence,
    )


def _ended_after(r: Rollout, decisive: DecisionRecord, outcome: Phase) -> tuple[Rollout, Any]:
    """The rollout once it ended, the decisive record kept, and its last (follow-up) record."""
    ended = r.evolve(
        phase=outcome,
        seq=decisive.seq + 3,
        reason=R.ENDED,
        message="ended",
        evidence={"traffic": {"blue": 100}},
        decisive=decisive.to_dict(),
    )
    last = _record(ended, R.ENDED, {"traffic": {"blue": 100}}, phase_from=Phase.ROLLING_BACK)
    return ended, last


def test_judge_rollback_names_rates_counts_threshold_and_since_after_it_ended() -> None:
    r = _rollout(seq=7)
    ev = {
        "verdict": "rollback",
        "verdict_reason": R.ERROR_RATE_REGRESSION,
        "judge": _judge(48, 2000, 6, 2000, peak=6.5),
        "minutes": MINUTES,
    }
    d = _record(r, R.JUDGE_ROLLBACK, ev, message=R.ERROR_RATE_REGRESSION)
    ended, last = _ended_after(r, d, Phase.ROLLED_BACK)
    line = explain.cause(ended, last)
    assert line == (
        "Rolled back: canary error rate 2.40 % vs baseline 0.30 % (48/2000 vs 6/2000 "
        "requests), over the rollback threshold since 10:42 UTC"
    )
    w = explain.why(ended, last)
    assert w["reason"] == R.JUDGE_ROLLBACK and w["metric"] == "error_rate"
    assert w["canary"] == {"value": 2.4, "unit": "%", "errors": 48, "requests": 2000}
    assert w["baseline"]["value"] == 0.3
    assert w["threshold"]["kind"] == "rollback" and w["threshold"]["value"] == 0.3
    assert w["since"] == "2026-01-05T10:42:00+00:00"
    assert len(w["minutes_used"]) == 3


def test_judge_rollback_cause_is_the_same_from_the_rollout_alone_as_listings_show_it() -> None:
    r = _rollout(seq=7)
    ev = {"verdict": "rollback", "judge": _judge(48, 2000, 6, 2000, peak=6.5), "minutes": MINUTES}
    d = _record(r, R.JUDGE_ROLLBACK, ev)
    ended, last = _ended_after(r, d, Phase.ROLLED_BACK)
    assert explain.cause(ended, None) == explain.cause(ended, last)


def test_judge_promote_says_the_previous_stage_cleared_and_where_it_is_now() -> None:
    r = _rollout(stage=1, seq=4, reason=R.JUDGE_PROMOTE)
    ev = {"verdict": "promote", "judge": _judge(3, 2000, 4, 2000, clear=3.5)}
    line = explain.cause(r, _record(r, R.JUDGE_PROMOTE, ev))
    assert line.startswith("Canary: previous stage cleared (canary error rate 0.15 % vs ")
    assert line.endswith("now stage 2 of 4, 25 %")


def test_judge_hold_uses_the_rollouts_fresher_evidence_and_shows_clear_progress() -> None:
    old = {"verdict": "hold", "verdict_reason": R.ACCUMULATING, "judge": _judge(1, 100, 1, 100)}
    new = {"verdict": "hold", "verdict_reason": R.ACCUMULATING, "judge": _judge(6, 2000, 5, 2000)}
    r = _rollout(seq=3, reason=R.JUDGE_HOLD, evidence=new)
    line = explain.cause(r, _record(r, R.JUDGE_HOLD, old))
    assert line == (
        "Holding: canary error rate 0.30 % vs baseline 0.25 % (6/2000 vs 5/2000 requests); "
        "evidence accumulating (stage 1 of 4, 10 %)"
    )
    reading = explain.readings(r, None)[0]
    assert reading["metric"] == "error_rate" and reading["state"] == "hold"
    assert reading["clear_progress"] == round(0.5 / 3.0, 4)
    assert explain.why(r, None)["threshold"]["kind"] == "clear"


def test_rollback_progress_counts_the_evidence_carried_from_earlier_phases() -> None:
    judge = _judge(6, 2000, 5, 2000, peak=1.5)
    judge["error_rate"]["carried_log_e"] = 3.0
    ev = {"verdict": "hold", "verdict_reason": R.ACCUMULATING, "judge": judge}
    r = _rollout(seq=3, reason=R.JUDGE_HOLD, evidence=ev)
    reading = explain.readings(r, None)[0]
    assert reading["rollback_progress"] == round((1.5 + 3.0) / 6.0, 4)


def test_guardrail_rollback_names_the_value_the_limit_and_its_minutes() -> None:
    r = _rollout(seq=5)
    ev = {
        "guardrail": {
            "guardrail": "error_rate",
            "limit": 0.01,
            "for_s": 180.0,
            "minutes": [
                {"start": "2026-01-05T10:40:00+00:00", "value": 0.02},
                {"start": "2026-01-05T10:41:00+00:00", "value": 0.025},
                {"start": "2026-01-05T10:42:00+00:00", "value": 0.031},
            ],
        }
    }
    d = _record(r, R.GUARDRAIL_ERROR_RATE, ev)
    ended, last = _ended_after(r, d, Phase.ROLLED_BACK)
    assert explain.cause(ended, last) == (
        "Rolled back: canary error rate 3.10 % over the guardrail 1.00 % for 3 minute(s) "
        "since 10:40 UTC"
    )
    w = explain.why(ended, last)
    assert w["metric"] == "guardrail_error_rate"
    assert w["threshold"]["kind"] == "guardrail" and w["threshold"]["value"] == 1.0


def test_guardrail_latency_is_shown_in_milliseconds() -> None:
    r = _rollout()
    ev = {
        "guardrail": {
            "guardrail": "p95_latency_ms",
            "limit": 500,
            "minutes": [{"start": "2026-01-05T10:40:00+00:00", "value": 820.4}],
        }
    }
    line = explain.cause(r.evolve(phase=Phase.ROLLING_BACK), _record(r, R.GUARDRAIL_LATENCY, ev))
    assert "canary P95 latency 820 ms over the guardrail 500 ms for 1 minute(s)" in line


def test_guardrail_readings_show_progress_toward_firing_from_the_series() -> None:
    minutes = [Minute(1000, 30, 1000, 1, start=T0 + timedelta(minutes=i)) for i in range(2)]
    policy = RolloutPolicy(guardrails=Guardrails(error_rate=0.01, for_s=180.0))
    r = _rollout(policy=policy, series=tuple(merge((), minutes)))
    guard = [g for g in explain.readings(r, None) if g["metric"] == "guardrail_error_rate"]
    assert guard[0]["canary"] == 3.0 and guard[0]["rollback_progress"] == round(2 / 3, 4)


def test_alert_rollback_names_the_rule_severity_and_time() -> None:
    r = _rollout(seq=2)
    ev = {"rule": "canary-5xx", "severity": "Sev1", "fired_at": "2026-01-05T10:41:00Z"}
    d = _record(r, R.ALERT_FIRED, ev, actor="alert:canary-5xx")
    ended, last = _ended_after(r, d, Phase.ROLLED_BACK)
    assert explain.cause(ended, last) == (
        "Rolled back: Azure Monitor alert canary-5xx (Sev1) fired on the canary at 10:41 UTC"
    )
    assert explain.why(ended, last)["actor"] == "alert:canary-5xx"


def test_operator_abort_names_the_actor_and_their_reason() -> None:
    r = _rollout(seq=2)
    d = _record(r, R.ABORTED_BY_OPERATOR, {"reason": "not today"}, actor="ana")
    ended, last = _ended_after(r, d, Phase.ABORTED)
    assert explain.cause(ended, last) == "Aborted: aborted by ana: not today"


def test_operator_pause_is_explained_while_later_holds_are_recorded() -> None:
    r = _rollout(seq=2)
    d = _record(r, R.PAUSED_BY_OPERATOR, {"reason": "lunch"}, actor="ana")
    paused = r.evolve(paused=True, pause_reason=R.PAUSED_BY_OPERATOR, seq=3, decisive=d.to_dict())
    later = _record(paused, R.JUDGE_HOLD, {"judge": _judge(1, 100, 1, 100)}, seq=3)
    assert explain.cause(paused, later) == "Paused: paused by ana: lunch"


def test_a_paused_canary_given_traffic_by_hand_says_since_when_and_that_it_is_judged() -> None:
    r = _rollout(seq=2, phase=Phase.PROVISIONING, stage=-1, stage_since=None)
    d = _record(r, R.PAUSED_BY_OPERATOR, {"reason": "trying it"}, actor="ana")
    paused = r.evolve(
        paused=True,
        pause_reason=R.PAUSED_BY_OPERATOR,
        seq=3,
        decisive=d.to_dict(),
        hand_since=T0 + timedelta(minutes=20),
    )
    assert explain.cause(paused, None) == (
        "Paused: paused by ana: trying it; fraud-v2 serves traffic routed to it by hand "
        "since 10:20 UTC and is judged for rollback on it"
    )


def test_manual_change_shows_live_and_wanted_split_and_what_to_do() -> None:
    ev = {
        "expected_traffic": {"blue": 90, "fraud-v2": 10},
        "observed_traffic": {"blue": 100},
    }
    r = _rollout(seq=4)
    d = _record(r, R.MANUAL_CHANGE, ev)
    paused = r.evolve(paused=True, pause_reason=R.MANUAL_CHANGE, decisive=d.to_dict())
    assert explain.cause(paused, d) == (
        "Paused: the live split was changed outside autocanary (live blue 100 %, wanted "
        "blue 90 %, fraud-v2 10 %); resume to take it over, or roll back"
    )


def test_provisioning_failure_shows_the_last_log_line() -> None:
    r = _rollout(phase=Phase.PROVISIONING, stage=-1, seq=3)
    logs = "starting\ninit() failed: cannot load model\n"
    d = _record(
        r,
        R.PROVISIONING_FAILED,
        {"provisioning_state": "Failed", "logs": logs},
        message="deployment fraud-v2 provisioning Failed",
    )
    ended, last = _ended_after(r, d, Phase.FAILED)
    assert explain.cause(ended, last) == (
        "Failed: deployment fraud-v2 provisioning Failed; last log line: init() failed: "
        "cannot load model"
    )


def test_provisioning_refusal_keeps_azures_message() -> None:
    r = _rollout(phase=Phase.PROVISIONING, stage=-1, seq=3)
    message = "Azure refused to create fraud-v2: quota exceeded for Standard_DS3_v2"
    d = _record(r, R.PROVISIONING_REFUSED, {"error": {"code": "QuotaExceeded"}}, message=message)
    ended, last = _ended_after(r, d, Phase.FAILED)
    assert explain.cause(ended, last) == f"Failed: {message}"


def test_stage_deadline_held_for_an_operator_says_what_may_be_done() -> None:
    r = _rollout(seq=6)
    ev = {"last_reason": R.JUDGE_HOLD, "max_duration_s": 1800.0, "elapsed_s": 1800.0}
    d = _record(r, R.STAGE_DEADLINE, ev)
    paused = r.evolve(paused=True, pause_reason=R.STAGE_DEADLINE, decisive=d.to_dict())
    assert explain.cause(paused, d) == (
        "Paused: stage 1 of 4, 10 % was not cleared within its max duration 1800 s "
        "(last: JudgeHold); promote, roll back or abort"
    )


def test_superseded_rollout_says_a_newer_version_came() -> None:
    r = _rollout(seq=4)
    d = _record(r, R.SUPERSEDED_BY_NEWER, {}, message="version 3 registered")
    ended, last = _ended_after(r, d, Phase.SUPERSEDED)
    assert explain.cause(ended, last) == (
        "Superseded: a newer version was registered before promotion (version 3 registered)"
    )


def test_no_data_waits_and_names_the_stage() -> None:
    r = _rollout(reason=R.NO_DATA, seq=2)
    d = _record(r, R.NO_DATA, {"minutes": {"minutes_read": 0}})
    assert explain.cause(r, d) == (
        "Waiting for data: no settled minute with canary traffic yet (stage 1 of 4, 10 %)"
    )
    assert explain.readings(r, d)[0]["state"] == "no_data"


def test_settling_says_how_many_minutes_were_read() -> None:
    r = _rollout(reason=R.SETTLING, seq=2)
    d = _record(r, R.SETTLING, {"minutes": {"minutes_read": 2}})
    assert explain.cause(r, d).startswith("Waiting for data: 2 minute(s) read, none settled yet")


def test_succeeded_says_the_old_deployment_was_deleted() -> None:
    r = _rollout(phase=Phase.SUCCEEDED, reason=R.SUCCEEDED, seq=9)
    assert explain.cause(r, _record(r, R.SUCCEEDED, {})) == (
        "Succeeded: cleared every stage; old deployment blue deleted"
    )


def test_a_repeating_azure_failure_is_added_to_the_cause() -> None:
    failure = {"code": "Throttled", "message": "too many requests", "count": 4}
    r = _rollout(reason=R.NO_DATA, seq=2, failure=failure)
    assert explain.cause(r, None).endswith(
        "an Azure call keeps failing (Throttled, 4 time(s)): too many requests"
    )


def test_stage_timing_gives_deadline_and_time_left() -> None:
    r = _rollout()
    t = explain.stage_timing(r, T0 + timedelta(minutes=10))
    assert t["index"] == 0 and t["count"] == 4 and t["weight"] == 10 and t["name"] == "stage 1"
    assert t["deadline"] == "2026-01-05T10:30:00+00:00"
    assert t["time_in_stage_s"] == 600.0 and t["time_left_s"] == 1200.0
    before = explain.stage_timing(r.evolve(phase=Phase.PENDING, stage=-1), T0)
    assert before["index"] == -1 and before["deadline"] is None


def test_a_paused_stage_shows_no_deadline_since_a_resume_restarts_its_clock() -> None:
    paused = _rollout().evolve(paused=True, pause_reason=R.STAGE_DEADLINE)
    t = explain.stage_timing(paused, T0 + timedelta(hours=3))
    assert t["deadline"] is None and t["time_left_s"] is None
    assert t["time_in_stage_s"] == 3 * 3600.0


def test_decision_log_fields_are_flat_strings_and_numbers() -> None:
    r = _rollout()
    ev = {"verdict": "rollback", "verdict_reason": "x", "judge": _judge(48, 2000, 6, 2000)}
    fields = explain.decision_log_fields(_record(r, R.JUDGE_ROLLBACK, ev), r)
    assert fields["canary_errors"] == 48 and fields["canary_value"] == 2.4
    assert all(isinstance(v, str | int | float) for v in fields.values())


def test_the_engine_keeps_the_decision_that_turned_a_rollout_and_the_minutes_it_judged() -> None:
    """Played on the judge_rollback scenario: once ended, the rollout still carries the
    JudgeRollback decision (not the follow-up RolloutEnded) and the settled minutes."""
    here = Path(__file__).resolve().parents[1] / "scenarios"
    raw = json.loads((here / "judge_rollback.json").read_text())
    sim = Simulation(parse_scenario(raw, base_dir=here, name="judge_rollback"))
    sim.run()
    r = sim.store.list_rollouts(RolloutQuery(limit=1))[0]
    assert r.phase is Phase.ROLLED_BACK and r.reason == R.ENDED
    assert r.decisive["reason"] == R.JUDGE_ROLLBACK and "effects" not in r.decisive
    assert [e["t"] for e in r.series] == sorted(e["t"] for e in r.series) and r.series
    assert explain.cause(r, None).startswith("Rolled back: canary error rate ")
