"""Reading a stage for the judge: which rollouts are judged, the metrics query for a stage, the
settled minutes and the verdict on them. Functions over the metrics and judge ports (the engine
passes its own, which callers may swap); the core decides what a missing verdict means
(warming up, no data, settling).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from shared.carry import carried
from shared.errors import AutocanaryError, NoData
from shared.judge.types import Minute, Verdict
from shared.judging import asking, full_guarded, judge_settings, judging_start, stage_key
from shared.model import Phase, Rollout
from shared.observation import EndpointInfo, Judging
from shared.ports import EndpointControl, Judge, MetricsQuery, MetricsSource, Slot
from shared.settle import settle

log = logging.getLogger("autocanary")


def served_at_rest(endpoints: EndpointControl, r: Rollout, listed_since: float | None) -> bool:
    """Whether the canary of a rollout at rest serves all the same (routed to by hand, as
    an operator trying it): then it is judged like any canary that serves. The split comes
    from the tick's listing of the workspace's endpoints (no read of its own). A failed
    read answers no, logged: the next tick looks again (a full read would only fail too,
    and during an ARM outage every paused rollout would add its own failing calls)."""
    try:
        traffic, mirror = endpoints.get_split(r.endpoint, listed_since=listed_since)
    except Exception as exc:
        log.warning("could not read the split of %s (paused, at rest): %s", r.endpoint, exc)
        return False
    return r.canary in traffic or r.canary in mirror


def judgeable(r: Rollout) -> bool:
    """A shadow or canary whose stage traffic was seen live is judged every tick, paused or
    not: pause stops promotion, never protection; so is one whose next split is asked for and
    not yet live (a stage change or the promotion pending, a change by hand meanwhile), for
    rollback only. The promoted canary serving everything (the watch window, or a promotion
    held with its split live) is read for the absolute guardrails while the old deployment is
    still there to roll back to."""
    if full_guarded(r):
        return True
    if asking(r):
        return True
    if r.phase is Phase.PROVISIONING:
        return r.hand_since is not None  # a canary tried by hand while it provisions
    return r.phase in (Phase.SHADOWING, Phase.CANARY) and r.stage_since is not None


def started(r: Rollout, now: datetime) -> bool:
    """Whether the stage's judging window has begun (a first minute can have closed)."""
    start = judging_start(r)
    return start is not None and start < now


def stage_query(r: Rollout, now: datetime) -> MetricsQuery:
    """The metrics query for the rollout's current stage, from its judging start to ``now``."""
    start = judging_start(r)
    assert start is not None
    # The shadow is judged on what each deployment served (mirrored copies included):
    # deployment-scope metrics; live stages on the endpoint's per-deployment split. A canary
    # tried by hand while it provisions may be mirrored to or live: deployment scope counts both.
    scope: Literal["endpoint", "deployment"] = (
        "deployment" if r.phase in (Phase.SHADOWING, Phase.PROVISIONING) else "endpoint"
    )
    # Issue 10 case 3: every deployment that served before the rollout is the baseline.
    pool = tuple(
        sorted(
            d
            for d, pct in r.baseline_traffic.items()
            if pct > 0 and d not in (r.baseline, r.canary)
        )
    )
    return MetricsQuery(
        r.endpoint,
        r.canary,
        r.baseline,
        start,
        now,
        errors=r.policy.errors,
        scope=scope,
        pool=pool,
    )


def minute_length(metrics: MetricsSource) -> float:
    """The length of one metric minute: the source's ``granularity_seconds`` if it has one
    (optional on the port, so older sources keep working), else Azure's 60."""
    return float(getattr(metrics, "granularity_seconds", 60.0) or 60.0)


def prefetch(
    metrics: MetricsSource, slots: Mapping[str, Slot], now: datetime
) -> dict[str, Sequence[Minute]]:
    """The stage minutes of every judgeable rollout among ``slots`` in one metrics call; empty
    when the call fails (each endpoint is then read on its own)."""
    queries = [
        stage_query(s.active, now)
        for s in slots.values()
        if s.active is not None and judgeable(s.active) and started(s.active, now)
    ]
    if not queries:
        return {}
    try:
        return dict(metrics.stage_minutes(queries))
    except AutocanaryError as exc:
        log.warning("metrics prefetch failed (%s); judging per endpoint", exc.message)
        return {}


def read_stage(
    metrics: MetricsSource,
    judge: Judge,
    r: Rollout,
    ep: EndpointInfo | None,
    now: datetime,
    prefetched: Mapping[str, Sequence[Minute]] | None,
) -> tuple[Verdict | None, Judging | None]:
    """Read the stage's minutes (``prefetched`` if it has the endpoint's), keep the settled
    ones, and ask the judge on them."""
    if ep is None or not judgeable(r) or not started(r, now):
        return None, None
    query = stage_query(r, now)
    step = minute_length(metrics)
    if prefetched is not None and r.endpoint in prefetched:
        minutes = prefetched[r.endpoint]
    else:
        try:
            minutes = metrics.stage_minutes([query]).get(r.endpoint, [])
        except NoData as exc:
            return None, Judging(readings=r.readings, unavailable=exc.message, step_s=step)
    minutes = [m for m in minutes if m.start is None or m.start >= query.start]
    settled = settle(
        minutes,
        r.readings,
        key=stage_key(r),
        now=now,
        settle_s=r.policy.settle,
        step_s=step,
    )
    evidence = {**settled.evidence, "scope": query.scope}
    judging = Judging(settled.minutes, settled.readings, evidence, step_s=step)
    if not settled.minutes or full_guarded(r):
        # the promoted canary serving everything (watching, or a promotion held with its
        # split live): the guardrails alone, there is no baseline traffic to compare with
        return None, judging
    verdict = judge.judge_stage(list(settled.minutes), judge_settings(r), carried(r))
    return verdict, judging
