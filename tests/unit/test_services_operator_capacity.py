"""An operator's step that must wait for the canary's instances stays the operator's: the
waiting decision names them and their reason, and so does the step when it is taken."""

from __future__ import annotations

from shared import machine as m
from tests.engine_support import canary_live, make_world


def test_a_promote_waiting_for_capacity_keeps_the_operator_and_their_reason() -> None:
    # 4 live instances: stage 1 (50 %) needs 3 of them on the canary, which runs 2
    w = make_world(instance_count=4)
    w.engine.on_model_registered(w.model())
    canary_live(w)
    why = "customer deadline, skip the judge"
    reply = w.engine.act("fraud", "promote", why, "ana")
    assert reply.decision is not None
    assert (reply.decision.reason, reply.decision.actor) == (m.CANARY_SCALING, "ana")
    assert reply.decision.evidence["reason"] == why
    rollout_id = reply.decision.rollout_id
    for _ in range(4):
        w.tick(70)
    promoted = [
        d for d in w.store.decisions("fraud", rollout_id) if d.reason == m.PROMOTED_BY_OPERATOR
    ]
    assert [(d.actor, d.evidence.get("reason")) for d in promoted] == [("ana", why)]
