"""A rollback gives the old deployments back the instances they ran for their share. Pure.

While the canary takes a share of the live traffic, an old deployment's own autoscale setting
may scale it in to what its smaller share needs (by up to half at a 50 % stage, or to its
minimum at 0 % in the watch window). A rollback gives it its whole share back on those
instances, and its setting scales it out only after its rule's window and cooldown, with
requests queueing or refused meanwhile. So the most instances each old deployment (every one
of the split found before the rollout) ran until promotion is followed (:func:`follow_peaks`),
and once the restored split is seen live, each old deployment serving again that reads
``Succeeded`` below its count is scaled back to it (:func:`restore`): after the traffic change,
never beside it (a canary that failed its judge leaves at once, and a failed scale never stands
in the way of the rollback). The rollback does not wait for the instances: they are the
deployments' own, and their settings take over from the count asked.

Only after a live stage began (``Rollout.stage`` >= 0): before that the old deployments served
everything, and a count their settings took them down to followed the load itself (a shadow's
mirrored copies are requests on top of theirs).

``Rollout.capacity`` keys:
  peaks:   {deployment: the most instances it was seen with until promotion}
  restore: {deployment: {target, asks, at, refused?: {code, message}}}: the scales asked
           (:data:`RESTORE_ASKS` at most for a target; none after Azure refused one for good,
           :func:`note_refused`)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from shared.effects import Effect, ScaleDeployment
from shared.machine.records import Transition, _record
from shared.model import PROVISIONED, Phase, Rollout, iso
from shared.observation import EndpointInfo
from shared.reasons import BASELINE_SCALING

# How many times a rollback asks for a deployment's instances back (a second ask covers a
# kill between the decision's write and its call, and one failed call)
RESTORE_ASKS = 2


def follow_peaks(r: Rollout, ep: EndpointInfo, phases: Collection[Phase]) -> Rollout:
    """Fold the old deployments' instance counts as read into ``peaks`` (up, never down),
    while the rollout is in one of ``phases`` (until promotion)."""
    cap = r.capacity
    if not cap or r.phase not in phases:
        return r
    peaks = dict(cap.get("peaks") or {})
    for name in _olds(r):
        dep = ep.deployments.get(name)
        count = int(dep.instance_count or 0) if dep is not None else 0
        if count > int(peaks.get(name, 0)):
            peaks[name] = count
    if peaks == (cap.get("peaks") or {}):
        return r
    return r.evolve(capacity={**cap, "peaks": peaks})


def restore(r: Rollout, ep: EndpointInfo, now: datetime) -> Transition | None:
    """The next old deployment serving again after a rollback that is short of its count,
    scaled back to it: one scale a decision (a failed call stops the calls after it, so one
    deployment Azure keeps failing would starve the others), in name order; None when
    nothing is asked."""
    if r.stage < 0:
        return None
    cap = r.capacity
    asked: Mapping[str, Any] = cap.get("restore") or {}
    due = [
        (name, seen, target, _asks(asked.get(name) or {}, target))
        for name, (seen, target, state) in sorted(_short(r, ep).items())
        if state == PROVISIONED and not (asked.get(name) or {}).get("refused")
    ]
    due = [d for d in due if d[3] < RESTORE_ASKS]
    if not due:
        return None
    name, seen, target, asks = due[0]
    share = _serving(r, ep)[name]
    record = {"target": target, "asks": asks + 1, "at": iso(now)}
    return _record(  # each ask its own decision, a second one of the same reason too
        r.evolve(capacity={**cap, "restore": {**asked, name: record}}),
        now,
        BASELINE_SCALING,
        f"scaling {name} from {seen} back to {target} instances for its {share} %: what it "
        "ran before the canary took a share",
        {
            "deployments": {
                name: {"instances": seen, "target": target, "share": share, "asks": asks + 1}
            }
        },
        (ScaleDeployment(name, target),),
    )


def _asks(rec: Mapping[str, Any], target: int) -> int:
    """How many times a deployment was asked for ``target`` (an ask for another count does
    not count)."""
    return int(rec.get("asks", 0)) if rec.get("target") == target else 0


def restore_evidence(r: Rollout, ep: EndpointInfo) -> dict[str, Any]:
    """What a rollback's end says of the old deployments still short of their counts (each:
    instances, target, asks, its provisioning state as read, Azure's refusal): empty when
    none is."""
    if r.stage < 0:
        return {}
    asked: Mapping[str, Any] = r.capacity.get("restore") or {}
    short: dict[str, Any] = {}
    for name, (seen, target, state) in sorted(_short(r, ep).items()):
        rec = asked.get(name) or {}
        entry: dict[str, Any] = {
            "instances": seen,
            "target": target,
            "asks": int(rec.get("asks", 0)),
            "provisioning_state": state,
        }
        if rec.get("refused"):
            entry["refused"] = dict(rec["refused"])
        short[name] = entry
    return {"instances_short": short} if short else {}


def note_refused(r: Rollout, effect: Effect | None, error: Mapping[str, Any]) -> Rollout:
    """A scale a rollback asked that Azure refused for good (a 400: quota, an invalid count, a
    deployment whose model the adapter cannot send back): never asked again, and named at
    the end. Kept on the restore record, as the rollout's failure is cleared once a later
    tick's calls go through."""
    rec = (r.capacity.get("restore") or {}).get(getattr(effect, "name", None))
    if r.phase is not Phase.ROLLING_BACK or not isinstance(effect, ScaleDeployment) or not rec:
        return r
    refused = {"code": str(error.get("code", "")), "message": str(error.get("message", ""))}
    restore_rec = {**r.capacity["restore"], effect.name: {**rec, "refused": refused}}
    return r.evolve(capacity={**r.capacity, "restore": restore_rec})


def _olds(r: Rollout) -> list[str]:
    """The old deployments: the split found before the rollout (and the baseline)."""
    names = {k for k, v in r.baseline_traffic.items() if v > 0} | {r.baseline}
    return sorted(n for n in names if n and n != r.canary)


def _serving(r: Rollout, ep: EndpointInfo) -> dict[str, int]:
    return {k: v for k, v in ep.live_traffic().items() if v > 0 and k != r.canary}


def _target(r: Rollout, name: str) -> int:
    """The count to give ``name`` back: its peak, for the baseline at least its followed
    ``live`` (a rollout that began before peaks were followed has them from a later read,
    perhaps after its baseline was scaled in); 0 when not known."""
    peak = int((r.capacity.get("peaks") or {}).get(name, 0))
    if name == r.baseline:
        peak = max(peak, int(r.capacity.get("live") or 0))
    return peak


def _short(r: Rollout, ep: EndpointInfo) -> dict[str, tuple[int, int, str]]:
    """The old deployments serving now, below their counts: (instances, target, state)."""
    out: dict[str, tuple[int, int, str]] = {}
    olds = set(_olds(r))
    for name in _serving(r, ep):
        dep = ep.deployments.get(name)
        target = _target(r, name) if name in olds else 0
        if dep is None or not target:
            continue
        seen = int(dep.instance_count or 0)
        if seen < target:
            out[name] = (seen, target, str(dep.provisioning_state))
    return out
