"""Invariants the engine keeps whatever happens, as plain checks over values. Pure.

Each check returns a list of :class:`Violation` (empty when the invariant holds), so a scenario
run, a unit test or a hypothesis stateful test can call them after every step:

- :func:`endpoint_violations`: traffic sums to 100 (or 0) over deployments that exist and are
  not being deleted; nothing is routed or mirrored to a deployment that is missing, failed or
  deleting; an endpoint that served before always has a serving deployment; with
  ``min_instances``, a deployment serving 100 % runs at least that many instances (the
  baseline's count: a canary is never promoted on fewer; a baseline a rollback gives the
  whole load back to, scaled in for its share meanwhile, is scaled back up by the next tick:
  the caller names it in ``settling`` until then, never a canary);
- :func:`unjudged`: a canary that serves (live or mirrored) while its baseline serves too,
  or serves everything with the guardrails on and the old deployment still there to go back
  to, is judged: the next tick reads its metrics (``judgeable``). The caller allows one tick
  (a hand change is seen by the tick after it);
- :func:`decision_violations`: a rollout's decision seqs are 1, 2, 3, ... without a gap, and
  the rollout's own ``seq`` is its last decision's; a step the judge took (``JudgePromoted``,
  ``ShadowComplete``) records the ``promote`` verdict it rests on (its evidence reproduces it).

The EndpointInfo should be the endpoint as it really is (e.g.
``ClockedEndpoints.snapshot``), with traffic entries to vanished deployments kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.judging import old_going
from shared.model import DecisionRecord, Phase, Rollout
from shared.observation import EndpointInfo
from shared.reasons import JUDGE_PROMOTE, SHADOW_COMPLETE

SERVING = frozenset({"Succeeded", "Updating", "Scaling"})
NOT_ROUTABLE = frozenset({"Failed", "Canceled", "Deleting"})

TRAFFIC_SUM = "TrafficSum"
ROUTED_TO_MISSING = "RoutedToMissingDeployment"
ROUTED_TO_UNHEALTHY = "RoutedToUnhealthyDeployment"
MIRRORED_TO_MISSING = "MirroredToMissingDeployment"
MIRRORED_TO_UNHEALTHY = "MirroredToUnhealthyDeployment"
NO_SERVING_DEPLOYMENT = "NoServingDeployment"
UNDERSIZED = "UndersizedFullTraffic"
DECISION_GAP = "DecisionSeqGap"
ROLLOUT_SEQ = "RolloutSeqMismatch"
PROMOTED_WITHOUT_VERDICT = "PromotedWithoutVerdict"
UNJUDGED = "CanaryServesUnjudged"
# the judge's own steps: each rests on a promote verdict recorded in its evidence
JUDGED_STEPS = frozenset({JUDGE_PROMOTE, SHADOW_COMPLETE})


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    endpoint: str = ""
    rollout_id: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"rule": self.rule, "message": self.message, "endpoint": self.endpoint}
        if self.rollout_id:
            out["rollout_id"] = self.rollout_id
        return out


def endpoint_violations(
    info: EndpointInfo,
    *,
    served_before: bool,
    min_instances: int | None = None,
    settling: frozenset[str] = frozenset(),
) -> list[Violation]:
    """Traffic and mirror of one endpoint against its deployments (and their instances)."""
    out: list[Violation] = []
    ep = info.name
    live = {k: int(v) for k, v in info.traffic.items() if int(v) > 0}
    mirror = {k: int(v) for k, v in info.mirror.items() if int(v) > 0}
    states = {n: d.provisioning_state for n, d in info.deployments.items()}
    usable = {n for n, s in states.items() if s != "Deleting"}
    total = sum(v for k, v in live.items() if k in usable)
    if total not in (0, 100):
        out.append(
            Violation(
                TRAFFIC_SUM,
                f"traffic over existing, not deleting deployments sums to {total}: {live}",
                ep,
            )
        )
    for label, split, missing, unhealthy in (
        ("routed", live, ROUTED_TO_MISSING, ROUTED_TO_UNHEALTHY),
        ("mirrored", mirror, MIRRORED_TO_MISSING, MIRRORED_TO_UNHEALTHY),
    ):
        for name, pct in sorted(split.items()):
            if name not in states:
                out.append(Violation(missing, f"{pct} % {label} to missing {name}", ep))
            elif states[name] in NOT_ROUTABLE:
                out.append(Violation(unhealthy, f"{pct} % {label} to {name}, {states[name]}", ep))
    for name, pct in live.items():
        dep = info.deployments.get(name)
        count = dep.instance_count if dep is not None else None
        short = count is not None and min_instances is not None and count < min_instances
        if pct >= 100 and short and name not in settling:
            out.append(
                Violation(
                    UNDERSIZED,
                    f"{name} serves 100 % on {count} instances, fewer than {min_instances}",
                    ep,
                )
            )
    if served_before and not any(states.get(n) in SERVING for n in live):
        out.append(
            Violation(
                NO_SERVING_DEPLOYMENT,
                f"the endpoint served before and now no deployment serves it "
                f"(traffic {live}, deployments {states})",
                ep,
            )
        )
    return out


def unjudged(info: EndpointInfo, r: Rollout) -> Violation | None:
    """The active rollout's canary serves and nothing will judge it (see the module
    docstring); None when it is judged or need not be."""
    from shared.stage_reading import judgeable

    if r.phase.terminal or r.phase in (Phase.PENDING, Phase.ROLLING_BACK) or not r.canary:
        return None
    live = {k: int(v) for k, v in info.traffic.items() if int(v) > 0}
    mirror = {k: int(v) for k, v in info.mirror.items() if int(v) > 0}
    serves = r.canary in live or r.canary in mirror
    if not serves or judgeable(r):
        return None
    beside = any(d != r.canary for d in live)
    old = [d for d in (r.baseline, *r.baseline_traffic) if d and d != r.canary]
    kept = any(d in info.deployments for d in old) and not old_going(r)
    full = not beside and r.policy.guardrails.active and kept
    if not (beside or full):
        return None
    what = "beside a baseline that serves" if beside else "everything, guardrails on"
    return Violation(
        UNJUDGED,
        f"{r.canary} serves {what} (traffic {live}, mirror {mirror}) in {r.phase.value}"
        f"{' (paused)' if r.paused else ''} and is not judged",
        info.name,
        r.id,
    )


def decision_violations(
    records: Sequence[DecisionRecord], rollout: Rollout | None = None
) -> list[Violation]:
    """Decision seqs of one rollout are 1..n without gaps (and match the rollout's seq)."""
    out: list[Violation] = []
    seqs = sorted(r.seq for r in records)
    rid = rollout.id if rollout is not None else (records[0].rollout_id if records else "")
    ep = rollout.endpoint if rollout is not None else ""
    if seqs != list(range(1, len(seqs) + 1)):
        out.append(Violation(DECISION_GAP, f"decision seqs are {_brief(seqs)}", ep, rid))
    for rec in records:
        if rec.reason in JUDGED_STEPS and rec.evidence.get("verdict") != "promote":
            out.append(
                Violation(
                    PROMOTED_WITHOUT_VERDICT,
                    f"decision {rec.seq} ({rec.reason}, stage {rec.stage_from} -> "
                    f"{rec.stage_to}) records verdict {rec.evidence.get('verdict')!r}, not "
                    "the promote verdict it rests on",
                    ep,
                    rid,
                )
            )
    if rollout is not None and seqs and rollout.seq != seqs[-1]:
        out.append(
            Violation(
                ROLLOUT_SEQ,
                f"rollout seq {rollout.seq} but its last decision is {seqs[-1]}",
                ep,
                rid,
            )
        )
    return out


def _brief(seqs: list[int]) -> str:
    return str(seqs) if len(seqs) <= 12 else f"{seqs[:6]} ... {seqs[-6:]}"
