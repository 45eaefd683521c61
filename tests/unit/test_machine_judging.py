"""decide(): judging in the core: protection while paused, the shadow judged (no data is never
a pass), guardrails, warm-up and no-data decisions, the alpha split."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared import machine as m
from shared.judge.types import Minute, Verdict
from shared.judging import judge_settings, stage_key
from shared.model import Phase
from shared.observation import Command, Judging, Observation
from shared.policy import Guardrails, Stage
from tests.unit.test_machine import HOLD, PROMOTE, ROLLBACK, Sim, policy

NO_DATA = Verdict("hold", "NoData", {"minutes_with_data": 0})


def _to_live_stage(sim: Sim) -> None:
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD, dt=1)  # traffic confirmed: the stage clock starts


def test_a_paused_canary_that_turns_bad_is_rolled_back() -> None:
    sim = Sim(policy(shadow_percent=0))
    _to_live_stage(sim)
    sim.step(command=Command("pause", "looking"))
    assert sim.r.paused
    t = sim.step(ROLLBACK)
    assert t.rollout.phase is Phase.ROLLING_BACK and not t.rollout.paused
    assert t.record is not None and t.record.reason == m.JUDGE_ROLLBACK
    assert t.record.evidence["paused"] == m.PAUSED_BY_OPERATOR
    assert sim.ep.traffic("fraud") == {"blue": 100}


def test_a_promote_verdict_while_paused_changes_nothing() -> None:
    sim = Sim(policy(shadow_percent=0))
    _to_live_stage(sim)
    sim.step(command=Command("pause", "looking"))
    for _ in range(5):
        t = sim.step(PROMOTE, dt=120)
        assert t.record is None and t.effects == ()
    assert sim.r.paused and sim.r.stage == 0


def test_a_canary_held_at_its_deadline_is_still_rolled_back_when_it_turns_bad() -> None:
    sim = Sim(policy(shadow_percent=0))  # on_deadline: hold
    _to_live_stage(sim)
    t = sim.step(HOLD, dt=700)
    assert t.rollout.paused and t.rollout.pause_reason == m.STAGE_DEADLINE
    sim.step(HOLD, dt=7200)  # two hours later, still held
    t = sim.step(ROLLBACK)
    assert t.rollout.phase is Phase.ROLLING_BACK
    assert sim.ep.traffic("fraud") == {"blue": 100}


def test_shadow_is_not_passed_on_a_hold_verdict_when_its_time_is_up() -> None:
    sim = Sim(policy(shadow_max_duration=600))
    sim.until(Phase.SHADOWING, PROMOTE)
    sim.step(HOLD, dt=1)  # mirror confirmed
    t = sim.step(HOLD, dt=300)  # past the shadow's 120 s duration
    assert t.rollout.phase is Phase.SHADOWING and sim.ep.traffic("fraud") == {"blue": 100}
    t = sim.step(PROMOTE, dt=30)
    assert t.rollout.phase is Phase.CANARY and t.record is not None
    assert t.record.reason == m.SHADOW_COMPLETE


_NO_DATA_OBS = st.sampled_from(["none", "nodata", "unavailable", "empty", "warmup"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_NO_DATA_OBS, st.integers(1, 400)), min_size=1, max_size=40))
def test_a_shadow_with_no_data_never_leads_to_live_traffic(
    ticks: list[tuple[str, int]],
) -> None:
    """Whatever mix of no verdict, the judge's NoData, an unavailable metrics source, no
    minutes and warm-up a shadow sees, for however long: its canary never gets live traffic
    (on_deadline hold pauses it; rollback removes it)."""
    for on_deadline in ("hold", "rollback"):
        sim = Sim(policy(shadow_max_duration=900, on_deadline=on_deadline))
        sim.until(Phase.SHADOWING, PROMOTE)
        for kind, dt in ticks:
            verdict = NO_DATA if kind == "nodata" else None
            judging = {
                "unavailable": Judging(unavailable="outage"),
                "empty": Judging(evidence={"minutes_read": 0}),
            }.get(kind)
            sim.now += timedelta(seconds=dt)
            info = sim.ep.get_endpoint("fraud")
            t = m.decide(sim.r, Observation(info, verdict, judging=judging), sim.now)
            sim.apply(t.effects)
            sim.r = t.rollout
            assert sim.r.phase not in (Phase.CANARY, Phase.PROMOTING, Phase.WATCHING)
            assert "fraud-v7" not in sim.ep.traffic("fraud")


def test_shadow_without_data_does_what_on_deadline_says_at_its_max_duration() -> None:
    held = Sim(policy(shadow_max_duration=600))
    held.until(Phase.SHADOWING, PROMOTE)
    held.step(NO_DATA, dt=1)
    t = held.step(NO_DATA, dt=601)
    assert t.rollout.paused and t.rollout.pause_reason == m.SHADOW_DEADLINE
    assert t.rollout.phase is Phase.SHADOWING
    back = Sim(policy(shadow_max_duration=600, on_deadline="rollback"))
    back.until(Phase.SHADOWING, PROMOTE)
    back.step(NO_DATA, dt=1)
    t = back.step(NO_DATA, dt=601)
    assert t.rollout.phase is Phase.ROLLING_BACK and t.record is not None
    assert t.record.reason == m.SHADOW_DEADLINE and t.record.evidence["last_reason"] == m.NO_DATA


def test_shadow_on_no_data_continue_is_the_explicit_opt_out() -> None:
    sim = Sim(policy(shadow_on_no_data="continue"))
    sim.until(Phase.SHADOWING, PROMOTE)
    sim.step(NO_DATA, dt=1)
    assert sim.step(NO_DATA, dt=60).rollout.phase is Phase.SHADOWING  # before its duration
    t = sim.step(NO_DATA, dt=61)
    assert t.rollout.phase is Phase.CANARY and t.record is not None
    assert t.record.reason == m.SHADOW_NO_DATA_CONTINUED
    assert t.record.evidence["on_no_data"] == "continue"


def test_shadow_opt_out_never_passes_a_shadow_that_has_data_but_no_clear() -> None:
    sim = Sim(policy(shadow_on_no_data="continue", shadow_max_duration=600))
    sim.until(Phase.SHADOWING, PROMOTE)
    sim.step(HOLD, dt=1)
    assert sim.step(HOLD, dt=300).rollout.phase is Phase.SHADOWING


def test_shadow_judge_rollback_ends_the_rollout_before_any_live_traffic() -> None:
    sim = Sim()
    sim.until(Phase.SHADOWING, PROMOTE)
    sim.step(HOLD, dt=1)
    t = sim.step(ROLLBACK)
    assert t.rollout.phase is Phase.ROLLING_BACK and sim.ep.mirror("fraud") == {}


def test_warm_up_and_missing_metrics_are_core_decisions_with_their_reasons() -> None:
    sim = Sim(policy(shadow_percent=0, warmup=90))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(None, dt=1)  # confirmed
    assert sim.step(None, dt=30).rollout.reason == m.WARMING_UP
    info = sim.ep.get_endpoint("fraud")
    sim.now += timedelta(seconds=120)
    t = m.decide(sim.r, Observation(info, judging=Judging(unavailable="503")), sim.now)
    assert t.rollout.reason == m.METRICS_UNAVAILABLE and t.rollout.stage == 0
    read = Judging(evidence={"minutes_read": 2, "minutes_settled": 0})
    t = m.decide(t.rollout, Observation(info, judging=read), sim.now)
    assert t.rollout.reason == m.SETTLING


def _minutes(n: int, **kw: float) -> tuple[Minute, ...]:
    start = Sim().now
    return tuple(
        Minute(
            canary_requests=int(kw.get("req", 100)),
            canary_errors=int(kw.get("err", 0)),
            baseline_requests=900,
            baseline_errors=0,
            start=start + timedelta(minutes=i),
            canary_p95=kw.get("p95"),
        )
        for i in range(n)
    )


def test_a_guardrail_rolls_back_whatever_the_judge_and_the_baseline_say() -> None:
    guard = Guardrails(error_rate=0.01, latency_ms={"p95": 500.0}, for_s=180)
    sim = Sim(policy(shadow_percent=0, guardrails=guard))
    _to_live_stage(sim)
    info = sim.ep.get_endpoint("fraud")
    sim.now += timedelta(seconds=60)
    # Over both limits for two minutes, then back under: not for 3 minutes, no rollback.
    ok = Judging(minutes=_minutes(2, err=2, p95=520.0) + _minutes(3, err=0, p95=100.0)[2:])
    assert m.decide(sim.r, Observation(info, PROMOTE, judging=ok), sim.now).rollout.stage == 1
    slow = Judging(minutes=_minutes(3, err=0, p95=520.0))
    t = m.decide(sim.r, Observation(info, PROMOTE, judging=slow), sim.now)
    assert t.rollout.phase is Phase.ROLLING_BACK and t.record is not None
    assert t.record.reason == m.GUARDRAIL_LATENCY
    assert t.record.evidence["guardrail"]["guardrail"] == "p95_latency_ms"
    failing = Judging(minutes=_minutes(3, err=2))
    t = m.decide(sim.r, Observation(info, HOLD, judging=failing), sim.now)
    assert t.record is not None and t.record.reason == m.GUARDRAIL_ERROR_RATE


def test_a_guardrail_breach_in_the_watch_window_rolls_back_to_the_kept_old_deployment() -> None:
    guard = Guardrails(error_rate=0.01, for_s=180)
    sim = Sim(policy(shadow_percent=0, guardrails=guard))
    sim.until(Phase.WATCHING, PROMOTE)
    info = sim.ep.get_endpoint("fraud")
    assert "blue" in info.deployments and sim.r.baseline == "blue"
    # within the limit: keeps watching
    fine = Judging(minutes=_minutes(3, err=0))
    t = m.decide(sim.r, Observation(info, judging=fine), sim.now + timedelta(seconds=60))
    assert t.rollout.phase is Phase.WATCHING
    failing = Judging(minutes=_minutes(3, err=2))
    t = m.decide(sim.r, Observation(info, judging=failing), sim.now + timedelta(seconds=60))
    assert t.rollout.phase is Phase.ROLLING_BACK and t.record is not None
    assert t.record.reason == m.GUARDRAIL_ERROR_RATE
    assert t.record.evidence["watching"] is True
    assert t.rollout.traffic == {"blue": 100}
    # once the old deployment is being deleted there is nothing to roll back to
    going = sim.r.evolve(cleanup=True)
    t = m.decide(going, Observation(info, judging=failing), sim.now + timedelta(seconds=60))
    assert t.rollout.phase is Phase.WATCHING


def test_judged_evidence_records_the_errors_counted_and_the_minutes_used() -> None:
    sim = Sim(policy(shadow_percent=0))
    _to_live_stage(sim)
    info = sim.ep.get_endpoint("fraud")
    sim.now += timedelta(seconds=90)
    used = {"minutes_settled": 1, "first_settled": "x", "last_settled": "x"}
    t = m.decide(
        sim.r, Observation(info, PROMOTE, judging=Judging(_minutes(1), evidence=used)), sim.now
    )
    assert t.record is not None and t.record.reason == m.JUDGE_PROMOTE
    assert t.record.evidence["errors"] == ["5xx", "424", "408", "429"]
    assert t.record.evidence["minutes"]["minutes_settled"] == 1


def test_the_judge_readings_are_kept_on_the_rollout() -> None:
    sim = Sim(policy(shadow_percent=0))
    _to_live_stage(sim)
    info = sim.ep.get_endpoint("fraud")
    reading = {"key": stage_key(sim.r), "through": None}
    t = m.decide(sim.r, Observation(info, HOLD, judging=Judging(readings=reading)), sim.now)
    assert t.rollout.readings == reading


def test_alpha_is_split_over_the_judged_phases_one_answer_to_is_there_a_shadow() -> None:
    """{percent: 20, duration: 0} is no shadow: 3 judged stages get alpha / 3, not / 4."""
    stages = (Stage(10), Stage(25), Stage(50), Stage(100, min_duration=0, max_duration=0))
    no_shadow = Sim(policy(shadow_percent=20, shadow_duration=0, stages=stages))
    no_shadow.until(Phase.CANARY, PROMOTE)
    assert judge_settings(no_shadow.r).alpha == 0.01 / 3
    shadowed = Sim(policy(stages=stages))
    shadowed.until(Phase.SHADOWING, PROMOTE)
    assert judge_settings(shadowed.r).alpha == 0.01 / 4


def test_a_stage_min_requests_raises_the_judge_minimum() -> None:
    stages = (Stage(10, min_requests=500), Stage(100))
    sim = Sim(policy(shadow_percent=0, stages=stages))
    sim.until(Phase.CANARY, PROMOTE)
    assert judge_settings(sim.r).min_requests == 500


def test_a_paused_promotion_whose_split_lands_is_still_guarded() -> None:
    """Paused while the promotion is asked for, the 100 % split lands: progress stops in
    Promoting, protection does not (the absolute guardrails, as in the watch window)."""
    from shared.stage_reading import judgeable

    guard = Guardrails(error_rate=0.01, for_s=180)
    sim = Sim(policy(shadow_percent=0, guardrails=guard))
    sim.until(Phase.PROMOTING, PROMOTE)
    sim.step(command=Command("pause", "look"))
    info = sim.ep.get_endpoint("fraud")
    fine = Judging(minutes=_minutes(3, err=0))
    t = m.decide(sim.r, Observation(info, judging=fine), sim.now + timedelta(seconds=60))
    held = t.rollout
    assert held.phase is Phase.PROMOTING and held.paused and held.confirmed
    assert judgeable(held)
    failing = Judging(minutes=_minutes(3, err=2))
    t = m.decide(held, Observation(info, judging=failing), sim.now + timedelta(seconds=120))
    assert t.rollout.phase is Phase.ROLLING_BACK and t.record is not None
    assert t.record.reason == m.GUARDRAIL_ERROR_RATE
    assert t.record.evidence["paused"] == m.PAUSED_BY_OPERATOR
    assert t.record.evidence["errors"] == ["5xx", "424", "408", "429"]
    assert t.rollout.traffic == {"blue": 100}


def test_a_resume_that_asks_for_the_split_again_judges_from_the_resume() -> None:
    """The split changed by hand while paused: the resume asks for the rollout's split
    again, and the canary is judged on a window of its own from then (the minutes before
    were the paused window's, already carried), never from the stage's first ask."""
    from shared.judging import window_since

    sim = Sim(policy(shadow_percent=0))
    _to_live_stage(sim)
    sim.ep.set_by_hand("fraud", {"blue": 50, "fraud-v7": 50})
    t = sim.step(HOLD, dt=120)
    assert t.rollout.paused and t.rollout.pause_reason == m.MANUAL_CHANGE
    sim.step(HOLD, dt=600)
    info = sim.ep.get_endpoint("fraud")
    at = sim.now + timedelta(seconds=30)
    t = m.decide(sim.r, Observation(info, command=Command("resume", "put back")), at)
    assert not t.rollout.confirmed and window_since(t.rollout) == at


def test_a_held_promotion_that_cannot_roll_back_is_finished_by_a_resume() -> None:
    """Paused in Promoting with the split live, the old deployment deleted by hand: a breach
    cannot roll back (RollbackImpossible: 'resume to finish'), and the resume it names is
    allowed: the promoted canary serving everything needs no baseline."""
    guard = Guardrails(error_rate=0.01, for_s=180)
    sim = Sim(policy(shadow_percent=0, guardrails=guard))
    sim.until(Phase.PROMOTING, PROMOTE)
    sim.step(command=Command("pause", "look"))
    info = sim.ep.get_endpoint("fraud")
    held = m.decide(sim.r, Observation(info), sim.now + timedelta(seconds=60)).rollout
    sim.ep.delete_deployment("fraud", "blue")
    for _ in range(10):
        info = sim.ep.get_endpoint("fraud")
    failing = Judging(minutes=_minutes(3, err=2))
    at = sim.now + timedelta(seconds=120)
    t = m.decide(held, Observation(info, judging=failing), at)
    assert t.rollout.paused and t.rollout.pause_reason == m.ROLLBACK_IMPOSSIBLE
    assert "resume" in m.allowed_actions(t.rollout, ep=info, now=at)
    resumed = m.decide(t.rollout, Observation(info, command=Command("resume", "finish")), at)
    assert resumed.rollout.phase is Phase.PROMOTING and not resumed.rollout.paused
