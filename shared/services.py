"""Use cases: ingest a registered model, reconcile rollouts, roll back on alerts, operator steps.

Level-triggered: every call re-reads the stored slot and the live endpoint, asks ``decide``,
writes the new state under the slot's ETag, then applies the (idempotent) effects. A stale
ETag means someone else decided first: re-read and decide again, a bounded number of times.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import applying
from shared.alerting import AlertResult, Alerts
from shared.checks import compare_due, run_compare, run_smoke, smoke_due
from shared.decisionlog import log_decisions
from shared.errors import (
    AutocanaryError,
    InvalidInput,
    NotFound,
    StaleState,
    Superseded,
    is_permanent,
)
from shared.health import HealthReport, check_health
from shared.ingest import Ingest, IngestResult
from shared.judge.types import Minute, Verdict
from shared.machine import (
    Admission,
    at_rest,
    decide,
    operator_event_id,
)
from shared.model import ModelRef, Rollout
from shared.observation import Alert, Command, EndpointInfo, Judging, Observation
from shared.operators import ActionResult, Operators, refuse_no_active
from shared.policy import PolicySet
from shared.ports import (
    AutoscaleControl,
    Clock,
    EndpointControl,
    EventPublisher,
    IgnoredEvent,
    InputSamples,
    Judge,
    MetricsSource,
    PurgeReport,
    RolloutQuery,
    RolloutStore,
    Scoring,
    Slot,
)
from shared.provisioning_reading import read_failure
from shared.queries import Queries
from shared.retention import purge_history as purge_old
from shared.stage_reading import prefetch, read_stage, served_at_rest
from shared.ticking import ReconcileOutcome, TickPool, error_dict
from shared.waiting import start_or_drop, waiting_to_start
from shared.writes import MAX_ATTEMPTS, admission_write

if TYPE_CHECKING:
    from shared.notify.dispatch import Notifications
    from shared.operator_requests import StartRequest

log = logging.getLogger("autocanary")

DEFAULT_RETENTION = timedelta(days=90)
# What an alert, an event or an operator's request waits, at most, for the chat notices it
# queued before it answers (an alert's action group may time its call out: keep it short).
REQUEST_DRAIN_S = 2.0


class Engine:
    """The rollout engine: every use case of autocanary, over its ports."""

    def __init__(
        self,
        *,
        store: RolloutStore,
        endpoints: EndpointControl,
        metrics: MetricsSource,
        judge: Judge,
        clock: Clock,
        events: EventPublisher,
        policies: PolicySet,
        workspace_id: str | None = None,
        max_concurrency: int = 8,
        retention: timedelta = DEFAULT_RETENTION,
        autoscale: AutoscaleControl | None = None,
        notifications: Notifications | None = None,
        scoring: Scoring | None = None,
        samples: InputSamples | None = None,
        notify_problems: Sequence[str] = (),
    ) -> None:
        self.store = store
        # chat channels left out for a setting that is missing or unusable (never fatal)
        self.notify_problems = tuple(notify_problems)
        for problem in self.notify_problems:
            log.error("chat notifications: %s; that channel is left out", problem)
        self.scoring = scoring  # requests straight to a deployment (smoke test)
        self.samples = samples  # request bodies for them (a file, data collection)
        self.autoscale = autoscale  # None: the endpoints have no autoscale settings to carry
        self.endpoints = endpoints
        self.metrics = metrics
        self.judge = judge
        self.clock = clock
        self.events = events
        self.policies = policies
        self.workspace_id = workspace_id.lower().rstrip("/") if workspace_id else None
        self.max_concurrency = max(1, max_concurrency)
        if retention <= timedelta(0):
            raise InvalidInput("retention must be positive")
        self.retention = retention
        self.queries = Queries(store=store, endpoints=endpoints, clock=clock)
        self.notifications = notifications  # chat notices, sent off the reconcile's path
        self._tick_lock = threading.Lock()
        self._ticks = TickPool(self.max_concurrency)

    # ------------------------------------------------------------------ model registered
    def on_model_registered(self, model: ModelRef, topic: str | None = None) -> IngestResult:
        """Record the rollout for a registered model exactly once per event id, if its event's
        ``topic`` is this workspace (``shared.ingest``)."""
        try:
            return Ingest(self).on_model_registered(model, topic)
        finally:
            self._send_notices()

    def commit_admission(self, slot: Slot, adm: Admission, event_id: str | None = None) -> None:
        """Write an admission (a registered model's, or an operator's start, retry or cancel)
        under the slot's ETag, then log its decisions, apply its effects, tell the chat
        channels and send its lifecycle events; a rollout it started (or a supersede) is
        reconciled at once. Raises StaleState when the slot changed meanwhile (decide again)
        and DuplicateEvent when ``event_id`` was already claimed: nothing was written then."""
        planned = admission_write(slot, adm, event_id)
        written = self.store.write(slot, planned)
        log_decisions(adm.records, (adm.active,) if adm.active else ())
        applying.log_dropped(slot.endpoint, planned.dropped)
        if adm.dropped is not None:
            old, now = adm.dropped.model, self.clock.now()
            event_id = old.event_id or operator_event_id("replaced", now, old.asset_id)
            dropped = IgnoredEvent(event_id, old, adm.dropped_reason, adm.dropped_detail, now)
            applying.record_dropped(self.store, dropped)
        if adm.active is not None:
            self._effects.apply(adm.active, adm.effects)
            applying.announce(self.notifications, adm.active, adm.effects)
        applying.send_outbox(self.store, self.events, written)
        if adm.outcome in ("start", "supersede"):
            self._reconcile_quietly(slot.endpoint)

    def live_models(self, endpoint: str) -> dict[str, str | None]:
        """The models the endpoint serves live now (deployment -> azureml:name:version)."""
        ep = self._endpoint(endpoint)
        if ep is None:
            return {}
        return {
            name: ep.deployments[name].model for name in ep.live_traffic() if name in ep.deployments
        }

    # ------------------------------------------------------------------ reconcile
    def reconcile_all(self) -> list[ReconcileOutcome]:
        """Reconcile every endpoint with an active rollout or a waiting version, with bounded
        concurrency; one endpoint's failure is recorded and never stops the others.

        The endpoints come from the store's index (never a scan of history). Each slot is read
        once, inside the worker pool; the metrics of every judgeable rollout are then fetched
        in one batch, and the same pool reconciles each endpoint from the slot it read. A tick
        that starts while the previous one still runs in this process is skipped (the
        Functions host never overlaps a timer on one instance; other instances are kept
        correct by the slot ETags)."""
        if not self._tick_lock.acquire(blocking=False):
            log.warning("the previous reconcile tick is still running; this one is skipped")
            return []
        try:
            return self._ticks.run(self)
        finally:
            self._tick_lock.release()
            if self.notifications is not None:  # bounded: what this tick decided goes out
                self.notifications.drain()

    def pool_size(self, rollouts: int) -> int:
        """Workers for a tick over ``rollouts`` (:meth:`TickPool.pool_size`)."""
        return self._ticks.pool_size(rollouts)

    def observe_tick(self, rollouts: int, workers: int, seconds: float) -> None:
        """Learn a rollout's cost from a tick (:meth:`TickPool.observe`)."""
        self._ticks.observe(rollouts, workers, seconds)

    def reconcile_slot(
        self,
        endpoint: str,
        prefetched: Mapping[str, Sequence[Minute]],
        slot: Slot | None = None,
        listed_since: float | None = None,
    ) -> ReconcileOutcome:
        """Reconcile one endpoint of a tick; a failure is recorded and returned as the
        outcome, never raised (one endpoint's failure never stops the others)."""
        try:
            return self.reconcile(
                endpoint, prefetched=prefetched, slot=slot, listed_since=listed_since
            )
        except Exception as exc:  # one endpoint's failure never stops the others
            log.exception("reconcile of %s failed", endpoint)
            self._effects.record_failure(endpoint, exc)
            return ReconcileOutcome(endpoint, None, None, None, False, error_dict(exc))

    def _reconcile_quietly(self, endpoint: str) -> None:
        """Reconcile now; a failure is logged and left to the next tick."""
        try:
            self.reconcile(endpoint)
        except Exception:  # the timer heals it; the event itself was recorded
            log.exception("first reconcile of %s failed; the timer will retry", endpoint)

    def reconcile(
        self,
        endpoint: str,
        command: Command | None = None,
        *,
        prefetched: Mapping[str, Sequence[Minute]] | None = None,
        slot: Slot | None = None,
        listed_since: float | None = None,
    ) -> ReconcileOutcome:
        """One level-triggered step for one endpoint (optionally carrying a command).
        ``slot``, if given, is the endpoint's slot as just read; it is re-read only when a
        write finds it stale. ``listed_since``: a tick's start (see ``_tick``)."""
        read = slot
        for _ in range(MAX_ATTEMPTS):
            slot = read if read is not None else self.store.read(endpoint)
            read = None
            if slot.outbox:
                slot = applying.send_outbox(self.store, self.events, slot)
            active = slot.active
            now = self.clock.now()
            if active is None or active.phase.terminal:
                if slot.waiting is not None and command is None:
                    self._start_waiting(slot, now)
                    continue  # re-read: decide the new rollout's first step
                if command is not None:
                    refuse_no_active(self.store, endpoint, slot.waiting)
                return ReconcileOutcome(endpoint, None, None, None, False)
            if (
                command is None
                and at_rest(active)
                and not served_at_rest(self.endpoints, active, listed_since)
            ):
                # Paused with nothing on the canary: decide would change nothing, so its
                # deployments are not read (an operator's resume, or an alert, reads afresh).
                return ReconcileOutcome(
                    endpoint, active.id, active.phase.value, active.reason, False
                )
            ep = self._endpoint(endpoint, listed_since)
            listed_since = None  # a retry after a stale write reads afresh
            verdict: Verdict | None = None
            judging: Judging | None = None
            if command is None:
                verdict, judging = read_stage(self.metrics, self.judge, active, ep, now, prefetched)
            logs, error = read_failure(self.endpoints, active, ep)
            smoke = compare = None
            if command is None and smoke_due(active, ep):
                smoke = run_smoke(active, self.scoring, self.samples)
            if command is None and compare_due(active):
                compare = run_compare(active, self.scoring, self.samples, ep)
            observation = Observation(
                ep, verdict, logs, command, judging, smoke, compare, provisioning_error=error
            )
            transition = decide(active, observation, now)
            try:
                stored = self._effects.commit(slot, transition)
            except StaleState:
                prefetched = None
                continue
            failure = self._effects.apply(transition.rollout, transition.effects)
            if stored is not None:
                applying.announce(self.notifications, transition.rollout, transition.effects)
                applying.send_outbox(self.store, self.events, stored)
            nxt = transition.rollout
            if nxt.phase.terminal and stored is not None and stored.waiting is not None:
                self._start_waiting_quietly(endpoint)
            if isinstance(failure, Superseded):  # a newer decision stands: answer from it
                nxt, failure = self._latest(endpoint) or nxt, None
            return ReconcileOutcome(
                endpoint,
                nxt.id,
                nxt.phase.value,
                nxt.reason,
                stored is not None and transition.changed,
                error_dict(failure) if failure is not None else None,
                failure is not None and not is_permanent(failure),
            )
        raise StaleState(f"endpoint {endpoint} kept changing; try again")

    def _latest(self, endpoint: str) -> Rollout | None:
        """The endpoint's rollout as stored now (active, or the latest one once it ended)."""
        active = self.store.read(endpoint).active
        if active is not None:
            return active
        latest = self.store.list_rollouts(RolloutQuery(endpoint=endpoint, limit=1))
        return latest[0] if latest else None

    def read_slot(self, endpoint: str) -> Slot:
        """The endpoint's slot for a new admission (an event, an operator's start or retry):
        a waiting version left behind with no rollout active (a crash between a rollout's end
        and its start) is first started or dropped, as the next reconcile would, so that the
        admission sees it as it is: active, or gone."""
        slot = self.store.read(endpoint)
        if waiting_to_start(slot):
            self._start_waiting(slot, self.clock.now())
            slot = self.store.read(endpoint)
        return slot

    def _start_waiting_quietly(self, endpoint: str) -> None:
        """Start the waiting version now that its endpoint is free; a failure (Azure's read of
        the live models) is logged and left to the next tick or admission (``read_slot``),
        never reported as the failure of the step that freed the endpoint."""
        try:
            self._start_waiting(self.store.read(endpoint), self.clock.now())
        except AutocanaryError as exc:
            log.warning("waiting version on %s not started yet: %s", endpoint, exc.message)

    def _start_waiting(self, slot: Slot, now: datetime) -> None:
        if waiting_to_start(slot):  # else nothing to start: Azure is not asked what is live
            start_or_drop(self.store, slot, self.live_models(slot.endpoint), now)

    def _endpoint(self, endpoint: str, listed_since: float | None = None) -> EndpointInfo | None:
        try:
            if listed_since is None:
                return self.endpoints.get_endpoint(endpoint)
            return self.endpoints.get_endpoint(endpoint, listed_since=listed_since)
        except NotFound:
            return None

    @property
    def _effects(self) -> applying.Applier:
        """The commit and effects of a transition, over the engine's ports as they are now."""
        return applying.Applier(
            self.store, self.endpoints, self.autoscale, self.events, self.notifications, self.clock
        )

    def prefetch(self, slots: Mapping[str, Slot]) -> dict[str, Sequence[Minute]]:
        """The stage minutes of these slots' judgeable rollouts, in one metrics batch."""
        return prefetch(self.metrics, slots, self.clock.now())

    # ------------------------------------------------------------------ alerts
    def on_alert(self, alert: Alert) -> list[AlertResult]:
        """A Fired alert on an endpoint with an active rollout rolls it back at once
        (``shared.alerting``)."""
        try:
            return Alerts(self).on_alert(alert)
        finally:
            self._send_notices()

    # ------------------------------------------------------------------ operators
    def act(
        self, endpoint: str, action: str, reason: str, actor: str, *, full: bool = False
    ) -> ActionResult:
        """An operator action on an endpoint (``shared.operators``): a rollout command
        (pause, resume, promote, rollback, abort), ``retry`` or ``cancel``."""
        try:
            return Operators(self).act(endpoint, action, reason, actor, full=full)
        finally:
            self._send_notices()

    def start(self, request: StartRequest) -> ActionResult:
        """A manual start (``POST /api/rollouts``), matched by the policy like an event."""
        try:
            return Operators(self).start(request)
        finally:
            self._send_notices()

    def _send_notices(self) -> None:
        """Wait a little (``REQUEST_DRAIN_S``) for the chat notices this call queued: the
        Functions host does not wait for background threads once an invocation returns
        (learn.microsoft.com/azure/azure-functions/performance-reliability, "Make sure
        background tasks complete"), so an instance scaled in after the reply would lose
        them. Bounded, so a hanging webhook delays the reply by that much at most (never
        longer than a tick waits: the notifications' own ``drain_s``)."""
        if self.notifications is not None:
            self.notifications.drain(min(REQUEST_DRAIN_S, self.notifications.drain_s))

    # ------------------------------------------------------------------ reads
    def describe(self, endpoint: str) -> dict[str, Any]:
        """The endpoint's current (or latest) rollout in full (:meth:`Queries.describe`)."""
        return self.queries.describe(endpoint)

    def list_rollouts(self, query: RolloutQuery) -> list[dict[str, Any]]:
        return self.queries.list_rollouts(query)

    def page_rollouts(
        self, query: RolloutQuery, continuation: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        return self.queries.page_rollouts(query, continuation)

    def page_ignored(
        self, limit: int = 100, continuation: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        return self.queries.page_ignored(limit, continuation)

    def health(self) -> HealthReport:
        """The app's own checks: its store, its policy, each rule's endpoint (shared.health)."""
        return check_health(
            self.store,
            self.endpoints,
            self.metrics,
            self.policies,
            self.clock.now(),
            notify_problems=self.notify_problems,
        )

    # ------------------------------------------------------------------ retention
    def purge_history(self, max_rows: int | None = None) -> PurgeReport:
        """Delete one bounded batch of history older than the retention period."""
        return purge_old(self.store, self.clock.now() - self.retention, max_rows)
