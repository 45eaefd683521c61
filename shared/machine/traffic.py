"""Traffic splits: stage splits, asking for and confirming traffic, manual changes, and the
split a rollback restores. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.effects import CopyAutoscale, Effect, SetTraffic
from shared.judging import old_going
from shared.machine.capacity import gate
from shared.machine.cost import instance_seconds
from shared.machine.records import Transition, _event, _goto
from shared.model import Phase, Rollout, iso, parse_time
from shared.observation import EndpointInfo
from shared.reasons import DEPLOYMENT_MISSING, EV_STAGE, MANUAL_CHANGE, TRAFFIC_CONFIRMED
from shared.rules import shares

# ------------------------------------------------------------------------------ traffic


def stage_split(r: Rollout, weight: int) -> dict[str, int]:
    """The canary gets ``weight``; the rest is shared by the baseline split in proportion
    (largest remainder), so the map always sums to 100."""
    if weight >= 100:
        return {r.canary: 100}
    base = {k: v for k, v in r.baseline_traffic.items() if k != r.canary and v > 0}
    if not base:
        base = {r.baseline: 100}
    total = sum(base.values())
    rest = 100 - weight
    raw = {k: rest * v / total for k, v in base.items()}
    out = {k: int(v) for k, v in raw.items()}
    short = rest - sum(out.values())
    for k in sorted(raw, key=lambda k: (raw[k] - out[k], k), reverse=True)[:short]:
        out[k] += 1
    out = {k: v for k, v in out.items() if v > 0}
    out[r.canary] = weight
    return out


def _start_stage(
    r: Rollout,
    now: datetime,
    index: int,
    reason: str,
    evidence: Mapping[str, Any] | None = None,
    actor: str = "engine",
    confirm: str | None = None,
    ep: EndpointInfo | None = None,
) -> Transition:
    """Give the canary stage ``index``'s weight, once it has the instances the stage needs
    (:func:`shared.machine.capacity.gate`; until then the stage waits, and the current split
    stays). Promotion also gives the canary a copy of the live deployment's autoscale setting,
    before the traffic moves. ``ep``, the endpoint as read: a mirror lent to the shadow goes
    back only to a deployment still there, and the split live now is what was live before."""
    r, waiting = gate(r, now, index, reason, actor, confirm, evidence)
    if waiting is not None:
        return waiting
    stages = r.policy.stages
    weight = stages[index].weight
    if weight >= 100:
        if r.capacity:  # the canary's cost is counted until now; it keeps the autoscale copy
            cap = {**r.capacity, "instance_s": instance_seconds(r.capacity, now)}
            r = r.evolve(
                capacity={**cap, "since": iso(now), "promoted": iso(now), "autoscale": True}
            )
        return _ask_traffic(
            r,
            now,
            Phase.PROMOTING,
            index,
            {r.canary: 100},
            _kept_mirror(r, ep),
            reason,
            f"promoting {r.canary} to 100 %",
            evidence,
            actor,
            first=(CopyAutoscale(r.baseline, r.canary),),
            ep=ep,
        )
    return _ask_traffic(
        r,
        now,
        Phase.CANARY,
        index,
        stage_split(r, weight),
        _kept_mirror(r, ep),
        reason,
        f"stage {index}: {weight} % to {r.canary}",
        evidence,
        actor,
        ep=ep,
    )


def still_asks(
    current: Rollout | None,
    rollout_id: str,
    traffic: Mapping[str, int],
    mirror: Mapping[str, int],
) -> bool:
    """Whether the stored rollout still asks for this split: the same rollout, still active,
    whose asked-for traffic and mirror are the ones a traffic update was decided with (every
    transition that sets traffic writes the split it sets). A traffic update is sent only
    while this holds, so that a split decided before another writer's decision (an alert's
    rollback, an operator's command) is not sent after it."""
    if current is None or current.id != rollout_id or current.phase.terminal:
        return False
    return (shares(current.traffic), shares(current.mirror)) == (shares(traffic), shares(mirror))


def traffic_landed(
    current: Rollout | None,
    rollout_id: str,
    traffic: Mapping[str, int],
    mirror: Mapping[str, int],
    now: datetime,
) -> Rollout | None:
    """Azure reported the traffic update done: the split the rollout asks for is live. The
    rollout notes when (``landed_at``; its stage clock still starts when a reconcile sees the
    split, as before), so that the previous split seen again later is told apart from the
    engine's own change still in flight: it was put back by hand (the rollout pauses, nothing
    is overwritten). None when there is nothing to note: the rollout no longer asks for that
    split, saw it live already, or rolls back (its steps read the endpoint)."""
    if current is None or not still_asks(current, rollout_id, traffic, mirror):
        return None
    if current.confirmed or current.landed_at is not None:
        return None
    if current.phase in (Phase.PENDING, Phase.ROLLING_BACK):
        return None
    return current.evolve(landed_at=now)


def at_rest(r: Rollout) -> bool:
    """Paused, its split confirmed, no live or mirrored traffic asked for the canary, and none
    seen on it by hand: a tick changes nothing unless traffic was routed to the canary since
    (the engine checks that on the split alone, without reading the deployments)."""
    return (
        r.paused
        and r.confirmed
        and r.phase not in (Phase.PENDING, Phase.ROLLING_BACK)
        and r.traffic.get(r.canary, 0) == 0
        and r.mirror.get(r.canary, 0) == 0
        and r.hand_since is None
    )


def note_hand_traffic(r: Rollout, ep: EndpointInfo, now: datetime) -> Rollout:
    """While the canary provisions the engine gives it nothing: traffic or mirror seen on it
    then was routed to it by hand (to try it, say). ``hand_since`` keeps when that was first
    seen, so the canary is judged for rollback on what it serves from then on, paused or not;
    it is cleared once the canary serves nothing again, or the rollout moves on."""
    serving = r.canary in ep.live_traffic() or r.canary in ep.live_mirror()
    if r.phase is Phase.PROVISIONING and serving:
        return r if r.hand_since is not None else r.evolve(hand_since=now)
    return r if r.hand_since is None else r.evolve(hand_since=None)


def _ask_traffic(
    r: Rollout,
    now: datetime,
    phase: Phase,
    stage: int,
    traffic: Mapping[str, int],
    mirror: Mapping[str, int],
    reason: str,
    message: str,
    evidence: Mapping[str, Any] | None = None,
    actor: str = "engine",
    first: tuple[Effect, ...] = (),
    ep: EndpointInfo | None = None,
) -> Transition:
    # What is live before this change: as read when known; else the split last asked for once
    # it was seen live, or, when it never was (its update failed or is pending), what was
    # live before it (a previous split taken for the last asked one would read as a change
    # by hand once the new one lands).
    if ep is not None:
        before, before_mirror = ep.live_traffic(), ep.live_mirror()
    elif r.confirmed:
        before, before_mirror = dict(r.traffic), dict(r.mirror)
    else:
        before, before_mirror = dict(r.prev_traffic), dict(r.prev_mirror)
    nxt = r.evolve(
        prev_traffic=before,
        prev_mirror=before_mirror,
        traffic=dict(traffic),
        mirror=dict(mirror),
        confirmed=False,
        landed_at=None,
        stage=stage,
        stage_since=None,
        asked_at=now,
    )
    effects: list[Effect] = [*first, SetTraffic(traffic, mirror)]
    if phase is Phase.CANARY and (r.phase is not Phase.CANARY or stage != r.stage):
        effects.append(_event(nxt, EV_STAGE, stage=stage, weight=r.policy.stages[stage].weight))
    return _goto(nxt, now, phase, reason, message, evidence or {}, tuple(effects), actor, r)


def _confirm_traffic(r: Rollout, ep: EndpointInfo, now: datetime) -> tuple[Rollout, str | None]:
    """Mark the asked-for split confirmed when it is live; the stage clock starts then."""
    if r.confirmed:
        return r, None
    if ep.live_traffic() == dict(r.traffic) and ep.live_mirror() == dict(r.mirror):
        confirmed = r.evolve(confirmed=True, landed_at=None, stage_since=now)
        return confirmed, TRAFFIC_CONFIRMED
    return r, None


def _manual_change(
    r: Rollout, ep: EndpointInfo, now: datetime
) -> tuple[str, str, dict[str, Any]] | None:
    """A split or deployment change that the engine did not ask for, or None."""
    if r.paused:
        return None
    live, mirror = ep.live_traffic(), ep.live_mirror()
    evidence = _split_evidence(r, ep)
    # A deployment being deleted is as good as gone (nothing may be routed to it): only a
    # rollback or the watch window's end deletes one, and neither comes here.
    if r.phase not in (Phase.PENDING, Phase.PROVISIONING) and not _usable(ep, r.canary):
        return DEPLOYMENT_MISSING, _deleted_by_hand(r.canary, ep), evidence
    if r.phase not in (Phase.WATCHING, Phase.PROMOTING) and not _usable(ep, r.baseline):
        return DEPLOYMENT_MISSING, _deleted_by_hand(r.baseline, ep), evidence
    if (live, mirror) == (dict(r.traffic), dict(r.mirror)):
        return None
    before = (dict(r.prev_traffic), dict(r.prev_mirror))
    if not r.confirmed and (live, mirror) == before and not _landed_a_while_ago(r, ep, now):
        return None  # our own change is still in flight
    return (
        MANUAL_CHANGE,
        "traffic or mirror was changed outside autocanary; paused, nothing overwritten",
        evidence,
    )


# An endpoint read right after Azure reported a traffic update done may still show the split
# before it for a moment (azure-dev PR 3881: azd waits after UpdateTraffic until the online
# endpoint shows the new split): within this many seconds of the landing the previous split
# is taken for that lag, not for a change by hand.
LANDED_READ_LAG_S = 30.0


# How much later than the ask Azure's time of the endpoint's last change must be to count
# as a change made after it (the two clocks are not the same clock)
MODIFIED_AFTER_ASK_S = 5.0


def _landed_a_while_ago(r: Rollout, ep: EndpointInfo, now: datetime) -> bool:
    """Whether the asked split landed at least LANDED_READ_LAG_S ago: noted so
    (``landed_at``), or, when the note is missing (a kill between the update and the note, or
    the note's write lost to a concurrent one), the endpoint not updating and changed by Azure
    after the split was asked, that long ago (systemData.lastModifiedAt: the asked update
    landed, or someone changed the endpoint since; either way not an update still in flight).
    An ask never sent leaves the endpoint's last change before the ask; an update that failed
    is recorded as the rollout's failure."""
    if r.landed_at is not None:
        return (now - r.landed_at).total_seconds() >= LANDED_READ_LAG_S
    changed = ep.modified_at
    if changed is None or r.asked_at is None or ep.provisioning_state.lower() != "succeeded":
        return False
    if (r.failure.get("effect") or {}).get("kind") == "set_traffic":
        return False  # the update failed (Azure's failed operation changes the endpoint too)
    after_ask = (changed - r.asked_at).total_seconds() >= MODIFIED_AFTER_ASK_S
    return after_ask and (now - changed).total_seconds() >= LANDED_READ_LAG_S


def _deleted_by_hand(name: str, ep: EndpointInfo) -> str:
    if name in ep.deployments:  # still listed: Deleting
        return f"deployment {name} is being deleted outside autocanary"
    return f"deployment {name} was deleted outside autocanary"


def _split_evidence(r: Rollout, ep: EndpointInfo) -> dict[str, Any]:
    return {
        "expected_traffic": dict(r.traffic),
        "expected_mirror": dict(r.mirror),
        "observed_traffic": ep.live_traffic(),
        "observed_mirror": ep.live_mirror(),
    }


def _usable(ep: EndpointInfo, name: str) -> bool:
    """A deployment that exists and is not being deleted (traffic may go to it)."""
    dep = ep.deployments.get(name)
    return dep is not None and dep.provisioning_state != "Deleting"


def _restore_split(r: Rollout, ep: EndpointInfo) -> dict[str, int] | None:
    """The split to return to: the baseline's original one if its deployments are all still
    usable, otherwise the baseline takes everything the canary had; None when no deployment to
    restore is usable (a rollback would leave the endpoint with nothing to serve)."""
    original = {k: v for k, v in r.baseline_traffic.items() if k != r.canary}
    if original and all(_usable(ep, k) for k in original) and sum(original.values()) == 100:
        return dict(original)
    live = {k: v for k, v in ep.live_traffic().items() if k != r.canary and _usable(ep, k)}
    if not _usable(ep, r.baseline):
        if not live:
            return None
        fallback = max(live, key=lambda k: (live[k], k))
    else:
        fallback = r.baseline
    spare = 100 - sum(live.values())
    live[fallback] = live.get(fallback, 0) + spare
    return {k: v for k, v in live.items() if v > 0}


def _kept_mirror(r: Rollout, ep: EndpointInfo | None = None) -> dict[str, int]:
    """The mirror found before the rollout, given back once the shadow no longer needs it (a
    deployment mirrors to at most one target: azure.md). Never to the canary or a deployment
    with live traffic, nor (when the endpoint is known) to one that is gone."""
    live = set(r.baseline_traffic) | {r.canary}
    return {
        k: v
        for k, v in r.baseline_mirror.items()
        if k not in live and v > 0 and (ep is None or _usable(ep, k))
    }


# How long after the old deployment's delete was first asked it may still read as before
# (the delete is started, not waited for); an old deployment still intact after that never
# had its delete sent (a kill right after the decision was written, and a pause, an alert's
# RollbackImpossible say, before a reconcile sent it again), so it can be rolled back to.
OLD_DELETE_SHOWN_S = 120.0


def _old_delete_never_sent(r: Rollout, ep: EndpointInfo | None, now: datetime | None) -> bool:
    asked = parse_time(r.checks.get("old_delete_asked"))
    if ep is None or now is None or asked is None or not r.baseline:
        return False
    dep = ep.deployments.get(r.baseline)
    intact = dep is not None and dep.provisioning_state.lower() == "succeeded"
    return intact and (now - asked).total_seconds() >= OLD_DELETE_SHOWN_S


def _baseline_going(r: Rollout, ep: EndpointInfo | None, now: datetime | None = None) -> str | None:
    """Why a rollback cannot restore the old split now, or None if it can."""
    if not r.canary:
        return None
    if r.phase in (Phase.PENDING, Phase.PROVISIONING):
        # Before live stages the canary serves nothing, unless traffic was routed to it by
        # hand: then taking it out needs somewhere to send that traffic, as later.
        serving = ep is not None and (r.canary in ep.live_traffic() or r.canary in ep.live_mirror())
        if not serving:
            return None
    if old_going(r) and not _old_delete_never_sent(r, ep, now):
        return f"the old deployment {r.baseline} is being deleted after the watch window"
    if ep is not None and _restore_split(r, ep) is None:
        return f"the old deployment {r.baseline} no longer exists or is being deleted"
    return None
