"""Failed effects: recording them once with a count, and clearing them. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.effects import CreateDeployment, Effect, effect_to_dict
from shared.judging import old_delete_failed
from shared.machine.capacity import copy_pending
from shared.machine.decide import _end_failed
from shared.machine.records import Transition, _record
from shared.machine.restore import note_refused
from shared.model import Phase, Rollout, iso
from shared.reasons import EFFECT_FAILED, PROVISIONING_REFUSED

# ------------------------------------------------------------------------------- failures


def effect_failed(
    r: Rollout,
    error: Mapping[str, Any],
    now: datetime,
    *,
    effect: Effect | None = None,
    permanent: bool = False,
) -> Transition:
    """An effect of the last decision (or the reconcile itself) failed.

    A create that Azure refused for good ends the rollout Failed with Azure's error: retrying
    it every tick until the provisioning timeout cannot help. A create answered 404 is such a
    refusal: the PUT names a model or environment that is not there ("The specified resource
    was not found ... ModelNotFound", Azure/mlops-v2 issue 76); a deployment Azure hides for a
    while after accepting its create is a 404 of a read, never of the PUT. Any other failure
    is recorded once; the same failure again only counts on the rollout (no new decision
    row), and the rollout's reason is left alone so the next decision does not record itself
    again."""
    where = effect_to_dict(effect) if effect is not None else {"kind": "reconcile"}
    missing = (error.get("details") or {}).get("status") == 404
    refused = permanent or missing
    if permanent:
        r = note_refused(r, effect, error)  # a rollback's scale back: never asked again
    if refused and isinstance(effect, CreateDeployment) and r.phase is Phase.PROVISIONING:
        return _end_failed(
            r.evolve(failure={}),
            now,
            PROVISIONING_REFUSED,
            f"Azure refused to create {effect.name}: {error.get('message', '')}",
            {"error": dict(error), "effect": where},
        )
    key = f"{where.get('kind')}|{where.get('name', '')}|{error.get('code', '')}"
    prev = r.failure
    if prev.get("key") == key:
        counted = {**prev, "count": int(prev.get("count", 1)) + 1, "last_at": iso(now)}
        return Transition(r.evolve(failure=counted))
    failure = {
        "key": key,
        "code": str(error.get("code", "")),
        "message": str(error.get("message", "")),
        "effect": where,
        "permanent": permanent,
        "count": 1,
        "first_at": iso(now),
        "last_at": iso(now),
    }
    t = _record(
        r.evolve(failure=failure),
        now,
        EFFECT_FAILED,
        str(error.get("message", "")),
        {**dict(error), "effect": where},
    )
    kept = t.rollout.evolve(reason=r.reason, message=r.message, evidence=dict(r.evidence))
    return Transition(kept, t.effects, t.record)


def effects_succeeded(r: Rollout, applied: Sequence[Effect] = ()) -> Rollout | None:
    """What a reconcile's calls (``applied``), all gone through, settle on the rollout, or
    None when nothing (nothing to write): its failure cleared, and in a rollback the
    canary's autoscale copy taken off once its delete went through (the rollout then ends,
    ``_rolling_back``), in a promotion the copy to the canary marked as gone through
    (``autoscale_copied``). A failed delete of the
    old deployment is cleared only by that delete going through: a tick that sent nothing (the
    watch window held for data) proves nothing about it, and while it is recorded the old
    deployment is known to be intact, something to roll back to (``old_delete_failed``)."""
    out = r
    sent = [effect_to_dict(e) for e in applied]
    copy_deleted = any(
        e.get("kind") == "delete_autoscale" and e.get("name") == r.canary for e in sent
    )
    if r.phase is Phase.ROLLING_BACK and r.capacity.get("autoscale") and copy_deleted:
        # the canary's autoscale copy, deleted: nothing of it left to wait for before the end
        out = out.evolve(capacity={**r.capacity, "autoscale": False})
    copied = any(e.get("kind") == "copy_autoscale" and e.get("target") == r.canary for e in sent)
    if r.phase in (Phase.PROMOTING, Phase.WATCHING) and copied and copy_pending(r):
        # the promoted canary's autoscale copy went through: the old one's may go with it
        out = out.evolve(capacity={**r.capacity, "autoscale_copied": True})
    if r.failure:
        name = (r.failure.get("effect") or {}).get("name")
        if not old_delete_failed(r) or any(
            e.get("kind") == "delete_deployment" and e.get("name") == name for e in sent
        ):
            out = out.evolve(failure={})
    return None if out is r else out
