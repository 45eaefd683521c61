"""shared.carry: the rollback evidence carried from one judged phase of a rollout to the next
(the rollout-wide mixture of per-phase chains; see the module docstring for why it is valid)."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.carry import after_verdict, carried, component
from shared.judge.types import Carried, Verdict
from shared.model import Phase, Rollout
from tests.unit.test_machine import HOLD, PROMOTE, Sim, policy


def _verdict(errors: float, latency: float | None = None) -> Verdict:
    evidence: dict[str, object] = {"error_rate": {"log_e": errors}}
    if latency is not None:
        evidence["latency"] = {"rollback": {"log_e": latency}}
    return Verdict("hold", "Accumulating", evidence)


def _stage(r: Rollout, stage: int, minute: int) -> Rollout:
    from datetime import timedelta

    return replace(
        r, phase=Phase.CANARY, stage=stage, stage_since=r.created_at + timedelta(minutes=minute)
    )


def _rollout() -> Rollout:
    return Sim(policy()).r  # shadow + two stages below 100 %: three judged phases


def test_the_first_judged_phase_carries_nothing() -> None:
    assert carried(_stage(_rollout(), 0, 5)) == Carried()


def test_the_same_phase_keeps_what_it_started_from() -> None:
    r = _stage(_rollout(), 0, 5)
    r = replace(r, chain=after_verdict(r, _verdict(2.0)))
    r = replace(r, chain=after_verdict(r, _verdict(3.5)))
    assert carried(r) == Carried()  # its own e-process is the verdict's, not carried


def test_a_new_phase_starts_from_the_last_phase_plus_a_component_of_its_own() -> None:
    r = _stage(_rollout(), 0, 5)
    r = replace(r, chain=after_verdict(r, _verdict(3.0, latency=-1.0)))
    nxt = _stage(r, 1, 20)
    c = carried(nxt)
    assert c.errors == round(math.log(1 + math.exp(3.0)), 6)
    assert c.latency == round(math.log(1 + math.exp(-1.0)), 6)


def test_a_restarted_phase_continues_the_chains_without_a_new_component() -> None:
    r = _stage(_rollout(), 0, 5)
    r = replace(r, chain=after_verdict(r, _verdict(-2.0)))
    restarted = _stage(r, 0, 15)  # the same stage, its clock restarted
    assert carried(restarted).errors == -2.0  # log(1 x e^-2): weaker, never fresh budget


def test_a_good_phase_never_weakens_the_next_one() -> None:
    r = _stage(_rollout(), 0, 5)
    r = replace(r, chain=after_verdict(r, _verdict(-40.0)))
    assert 0.0 <= carried(_stage(r, 1, 20)).errors < 1e-6


def test_verdicts_outside_the_judged_phases_leave_the_chain_alone() -> None:
    r = _rollout()  # pending
    assert after_verdict(r, _verdict(5.0)) == {}


def test_a_verdict_without_evidence_multiplies_by_one() -> None:
    r = _stage(_rollout(), 0, 5)
    r = replace(r, chain=after_verdict(r, Verdict("hold", "Scripted", {"scripted": True})))
    assert carried(_stage(r, 1, 20)).errors == round(math.log(2.0), 6)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([(Phase.SHADOWING, -1), (Phase.CANARY, 0), (Phase.CANARY, 1)]),
            st.floats(-50, 8, allow_nan=False),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_at_most_the_judged_phases_start_components_and_the_carry_is_bounded_by_them(
    steps: list[tuple[tuple[Phase, int], float]],
) -> None:
    """Whatever the order of phases and restarts, the chain never starts more components than
    the policy's judged phases, and the carried evidence never exceeds what those components
    could hold: log(S) + the sum of the positive log e-values seen."""
    r = _rollout()
    judged = r.policy.judged_count
    positive = 0.0
    for minute, ((phase, stage), log_e) in enumerate(steps):
        r = replace(r, phase=phase, stage=stage, stage_since=r.created_at.replace(minute=minute))
        r = replace(r, chain=after_verdict(r, _verdict(log_e)))
        positive += max(0.0, log_e)
        assert len(r.chain["started"]) <= judged
        assert carried(r).errors <= math.log(judged) + positive + 1e-6


def test_the_engine_hands_the_next_stage_the_evidence_of_the_earlier_ones() -> None:
    sim = Sim(policy(shadow_percent=0))
    sim.until(Phase.CANARY, PROMOTE)
    sim.step(HOLD, dt=1)  # the stage clock starts
    suspicious = Verdict("promote", "Cleared", {"error_rate": {"log_e": 3.0}})
    sim.step(suspicious, dt=120)  # stage 0 cleared, with some evidence against the canary
    assert sim.r.stage == 1
    sim.step(HOLD, dt=1)  # stage 1's clock starts
    assert component(sim.r) == "Canary:1"
    assert carried(sim.r).errors == round(math.log(1 + math.exp(3.0)), 6)
