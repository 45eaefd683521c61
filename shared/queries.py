"""The read side of the operator API: rollouts as views that explain themselves.

:class:`Queries` reads the store (and, for one rollout's detail, the live endpoint once) and
shapes what ``GET /api/...`` returns: every rollout listed or shown carries its cause in words
and as data (:mod:`shared.explain`), its stage timing, the traffic autocanary wants beside the
traffic that is live, what may be done, and how it ended. The engine delegates its reads here;
handlers call it through the engine.

Reads are bounded: a listing is one store page and never reads decisions or Azure; a detail
reads the slot, the rollout, its last :data:`DETAIL_DECISIONS` decisions, the endpoint's
latest :data:`DETAIL_HISTORY` rollouts and the live endpoint (one ARM read).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared import explain, machine
from shared import reasons as R
from shared.errors import AutocanaryError, NotFound
from shared.model import DecisionRecord, Phase, Rollout, Waiting, iso
from shared.observation import EndpointInfo
from shared.ports import Clock, EndpointControl, IgnoredEvent, Page, RolloutQuery, RolloutStore
from shared.series import expand

log = logging.getLogger("autocanary")

DETAIL_DECISIONS = 50
DETAIL_HISTORY = 20
SERIES_DECISIONS = 1000  # decisions read for a series' traffic and phase marks (one page)

# What to do about an event that started no rollout, by its reason.
IGNORED_HINTS: Mapping[str, str] = {
    R.NO_MATCHING_RULE: "Add a policy rule matching this model's name or tags (check the "
    "spelling of its tags), or start the version by hand with POST /api/rollouts.",
    R.OPTED_OUT: "The model's autocanary tag opts it out; remove the tag and register the "
    "version again, or start it by hand with POST /api/rollouts.",
    R.INVALID_TAG_OVERRIDE: "Fix the tag named in the detail and register the version again, "
    "or start it by hand with POST /api/rollouts.",
    R.SAME_VERSION: "Nothing to do: this version's rollout is already running.",
    R.VERSION_ALREADY_LIVE: "Nothing to do: the endpoint already serves this version.",
    R.OLDER_THAN_LIVE: "A downgrade is never started by an event; start it by hand with POST "
    "/api/rollouts and allow_downgrade: true.",
    R.NOT_NEWER: "A newer version is active or waiting; start this one by hand with POST "
    "/api/rollouts if it is really wanted.",
    R.OTHER_WORKSPACE: "The event comes from another workspace's topic: subscribe this app to "
    "its own workspace only, or deploy an app per workspace.",
}
DEFAULT_IGNORED_HINT = "Check the detail; start the version by hand with POST /api/rollouts."


def ignored_hint(reason: str) -> str:
    return IGNORED_HINTS.get(reason, DEFAULT_IGNORED_HINT)


def _live(ep: EndpointInfo | None) -> tuple[dict[str, int] | None, dict[str, int] | None]:
    if ep is None:
        return None, None
    return ep.live_traffic(), ep.live_mirror()


def _with_decisive(r: Rollout, decisions: list[DecisionRecord]) -> Rollout:
    """A rollout stored before it kept its decisive decision, given the one that turned it
    (into RollingBack or straight to its end) from its decisions, for its explanation."""
    if r.decisive or not (r.phase is Phase.ROLLING_BACK or r.phase.terminal):
        return r
    for d in reversed(decisions):
        turned = d.phase_to is Phase.ROLLING_BACK or d.phase_to.terminal
        if turned and d.phase_from is not Phase.ROLLING_BACK:
            return r.evolve(decisive=d.to_dict())
    return r


def _positive(split: Mapping[str, int]) -> dict[str, int]:
    return {k: int(v) for k, v in split.items() if int(v) > 0}


class Queries:
    """Read use cases over the store, the endpoints (detail only) and the clock."""

    def __init__(self, *, store: RolloutStore, endpoints: EndpointControl, clock: Clock) -> None:
        self.store = store
        self.endpoints = endpoints
        self.clock = clock

    # ------------------------------------------------------------------------- views
    def view(
        self,
        r: Rollout,
        last: DecisionRecord | None = None,
        *,
        live: EndpointInfo | None = None,
        read_live: bool = False,
        waiting: Waiting | None = None,
        latest: bool = True,
    ) -> dict[str, Any]:
        """One rollout as the API shows it (list items and details share these keys).
        ``live`` is the endpoint as read now (detail only; lists show ``live: null``)."""
        out = machine.summary(r)
        out.pop("mirror", None)
        wanted, wanted_mirror = _positive(r.traffic), _positive(r.mirror)
        live_split, live_mirror = _live(live) if read_live and r.active else (None, None)
        in_sync = None
        if live_split is not None:
            in_sync = live_split == wanted and live_mirror == wanted_mirror
        ended = r.phase.terminal
        out.update(
            {
                "cause": explain.cause(r, last),
                "why": explain.why(r, last),
                "stage_timing": explain.stage_timing(r, self.clock.now()),
                "traffic": {
                    "wanted": wanted,
                    "wanted_mirror": wanted_mirror,
                    "live": live_split,
                    "live_mirror": live_mirror,
                    "in_sync": in_sync,
                },
                "allowed_actions": self._allowed(
                    r, waiting, latest, live if read_live and r.active else None
                ),
                "outcome": r.phase.value
                if ended
                else (r.outcome.value if r.outcome and r.phase is Phase.ROLLING_BACK else None),
                "ended_at": iso(r.phase_since) if ended else None,
            }
        )
        return out

    def _allowed(
        self, r: Rollout, waiting: Waiting | None, latest: bool, live: EndpointInfo | None
    ) -> list[str]:
        """The actions allowed now: the one place the read side asks the core (the retry
        of a past rollout and the cancel of a waiting version depend on the slot; given the
        endpoint as read, the detail leaves out what the command would refuse on it)."""
        return machine.allowed_actions(
            r, waiting=waiting, latest=latest, ep=live, now=self.clock.now()
        )

    def action_view(self, r: Rollout, waiting: Waiting | None) -> dict[str, Any]:
        """The rollout as an action reply carries it: the view, no decisions, no ARM read."""
        return self.view(r, waiting=waiting)

    # ------------------------------------------------------------------------- lists
    def list_rollouts(self, query: RolloutQuery) -> list[dict[str, Any]]:
        return [self.view(r) for r in self.store.list_rollouts(query)]

    def page_rollouts(
        self, query: RolloutQuery, continuation: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        page: Page[Rollout] = self.store.page_rollouts(query, continuation)
        return [self.view(r) for r in page.items], page.continuation

    def history(
        self, endpoint: str, limit: int = 100, continuation: str | None = None
    ) -> dict[str, Any]:
        """One page of the endpoint's rollouts, past and current, oldest first."""
        page = self.store.page_rollouts(RolloutQuery(endpoint=endpoint, limit=limit), continuation)
        if not page.items and continuation is None:
            self._known(endpoint)
        elif not page.items and not self.store.page_rollouts(RolloutQuery(endpoint, limit=1)).items:
            # a continuation never answers 200 for an endpoint with no rollout at all
            self._known(endpoint)
        items = [self.view(r) for r in page.items]
        return {
            "endpoint": endpoint,
            "rollouts": items,
            "count": len(items),
            "continuation": page.continuation,
        }

    def page_ignored(
        self, limit: int = 100, continuation: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        page: Page[IgnoredEvent] = self.store.page_ignored(limit, continuation)
        items = [
            {
                "event_id": e.event_id,
                "model": e.model.to_dict(),
                "reason": e.reason,
                "detail": e.detail,
                "hint": ignored_hint(e.reason),
                "at": e.at.isoformat(),
            }
            for e in page.items
        ]
        return items, page.continuation

    # ------------------------------------------------------------------------ details
    def describe(self, endpoint: str) -> dict[str, Any]:
        """The endpoint's current (or latest) rollout in full, its decisions and history."""
        slot = self.store.read(endpoint)
        rollout = slot.active
        history = self.store.list_rollouts(RolloutQuery(endpoint=endpoint, limit=DETAIL_HISTORY))
        if rollout is None:
            if not history:
                raise NotFound(
                    f"no rollout is known for endpoint {endpoint}", code="unknown_endpoint"
                )
            rollout = history[0]
        return self._detail(rollout, slot.waiting, history, latest=True)

    def rollout(self, endpoint: str, rollout_id: str) -> dict[str, Any]:
        """One rollout of the endpoint by id, in the detail's shape."""
        r = self._by_id(endpoint, rollout_id)
        slot = self.store.read(endpoint)
        current = slot.active
        history = self.store.list_rollouts(RolloutQuery(endpoint=endpoint, limit=DETAIL_HISTORY))
        latest_id = current.id if current is not None else (history[0].id if history else r.id)
        if current is not None and current.id == r.id:
            r = current  # the slot is written first: it is the freshest copy
        return self._detail(r, slot.waiting, history, latest=latest_id == r.id)

    def _detail(
        self,
        r: Rollout,
        waiting: Waiting | None,
        history: list[Rollout],
        *,
        latest: bool,
    ) -> dict[str, Any]:
        page = self.store.page_decisions(
            r.endpoint, r.id, DETAIL_DECISIONS, from_seq=max(1, r.seq - DETAIL_DECISIONS + 1)
        )
        decisions = page.items
        last = decisions[-1] if decisions else None
        r = _with_decisive(r, decisions)
        live = self._endpoint(r.endpoint) if r.active else None
        view = self.view(
            r, last, live=live, read_live=True, waiting=waiting if latest else None, latest=latest
        )
        view["readings"] = explain.readings(r, last)
        view["policy"] = r.policy.to_dict()
        view["evidence"] = dict(r.evidence)  # the latest evidence behind ``reason``
        view["confirmed"] = r.confirmed  # the wanted split was seen live
        # the answer checks passed (smoke test, shadow comparison): counts and measures only
        view["checks"] = dict(r.checks)
        return {
            "endpoint": r.endpoint,
            "rollout": view,
            "active": r.active,
            "allowed_actions": view["allowed_actions"],
            "waiting": waiting.to_dict() if waiting is not None and latest else None,
            "decisions": [d.to_dict() for d in decisions],
            "decisions_total": r.seq,
            "decisions_continuation": page.continuation,
            "history": [self.view(h) for h in history],
        }

    def decisions(
        self, endpoint: str, rollout_id: str, limit: int = 100, continuation: str | None = None
    ) -> dict[str, Any]:
        """One page of a rollout's decisions, oldest first."""
        self._by_id(endpoint, rollout_id)  # a continuation never answers for an unknown one
        page = self.store.page_decisions(endpoint, rollout_id, limit, continuation)
        items = [d.to_dict() for d in page.items]
        return {"decisions": items, "count": len(items), "continuation": page.continuation}

    def series(self, endpoint: str, rollout_id: str) -> dict[str, Any]:
        """Per-minute canary and baseline figures the judge saw, the thresholds, and the
        traffic and phase changes (from the decisions), for charts."""
        r = self._by_id(endpoint, rollout_id)
        slot = self.store.read(endpoint)
        if slot.active is not None and slot.active.id == r.id:
            r = slot.active
        minutes = [
            {"t": e["t"], "canary": expand(e, "c"), "baseline": expand(e, "b")} for e in r.series
        ]
        page = self.store.page_decisions(endpoint, rollout_id, SERIES_DECISIONS)
        traffic: list[dict[str, Any]] = []
        phases: list[dict[str, Any]] = []
        for d in page.items:
            for effect in d.effects:
                if effect.get("kind") == "set_traffic":
                    traffic.append(
                        {
                            "t": iso(d.at),
                            "split": dict(effect.get("traffic") or {}),
                            "mirror": dict(effect.get("mirror") or {}),
                        }
                    )
            if d.phase_to != d.phase_from or d.stage_to != d.stage_from or not phases:
                phases.append(
                    {
                        "t": iso(d.at),
                        "phase": d.phase_to.value,
                        "stage": d.stage_to,
                        "reason": d.reason,
                    }
                )
        return {
            "endpoint": endpoint,
            "rollout_id": r.id,
            "minutes": minutes,
            "thresholds": self._thresholds(r),
            "traffic": traffic,
            "phases": phases,
        }

    @staticmethod
    def _thresholds(r: Rollout) -> dict[str, float]:
        out: dict[str, float] = {}
        guard = r.policy.guardrails
        if guard.error_rate is not None:
            out["guardrail_error_rate_pct"] = round(guard.error_rate * 100, 4)
        for level, limit in sorted(guard.latency_ms.items()):
            out[f"guardrail_{level}_ms"] = float(limit)
        why = explain.why(r, None)
        threshold = why.get("threshold") or {}
        if why.get("metric") == "error_rate" and threshold.get("value") is not None:
            key = "error_rate_rollback_pct" if threshold.get("kind") == "rollback" else None
            key = key or "error_rate_clear_pct"
            out[key] = float(threshold["value"])
        return out

    # ----------------------------------------------------------------------- helpers
    def _by_id(self, endpoint: str, rollout_id: str) -> Rollout:
        r = self.store.get_rollout(endpoint, rollout_id)
        if r is None:
            raise NotFound(
                f"endpoint {endpoint} has no rollout {rollout_id}", code="unknown_rollout"
            )
        return r

    def _known(self, endpoint: str) -> None:
        slot = self.store.read(endpoint)
        if slot.active is None and slot.waiting is None:
            raise NotFound(f"no rollout is known for endpoint {endpoint}", code="unknown_endpoint")

    def _endpoint(self, endpoint: str) -> EndpointInfo | None:
        """The live endpoint (one ARM read); None when it is gone or cannot be read now (the
        detail is still shown: ``live`` is then null)."""
        try:
            return self.endpoints.get_endpoint(endpoint)
        except NotFound:
            return None
        except AutocanaryError as exc:  # a view never fails because Azure is slow
            log.warning("live traffic of %s not read: %s", endpoint, exc.message)
            return None
