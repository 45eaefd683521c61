"""Ports: the small Protocols the services need from the outside world.

Fakes for each live in :mod:`shared.fakes`; the Azure adapters in :mod:`shared.azure`. One
contract test suite per port runs against both, so the fakes stay honest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from shared.effects import CreateDeployment, OutboxEvent
from shared.judge.types import Carried, JudgeSettings, Minute, Verdict
from shared.model import DecisionRecord, ModelRef, Phase, Rollout, Waiting
from shared.notify.channels import Channel
from shared.observation import EndpointInfo, OperationError
from shared.policy import DEFAULT_ERRORS

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class EndpointControl(Protocol):
    """Azure ML online endpoints. Every method is idempotent; none blocks on provisioning."""

    def get_endpoint(self, endpoint: str, *, listed_since: float | None = None) -> EndpointInfo:
        """Traffic, mirror, and every deployment with its provisioning state.
        Raises NotFound for an unknown endpoint. ``listed_since`` (a reconcile tick's start,
        monotonic seconds) lets the split come from one listing of the workspace's endpoints
        taken since then, shared by the tick's reads; None: read afresh."""
        ...

    def get_split(
        self, endpoint: str, *, listed_since: float | None = None
    ) -> tuple[dict[str, int], dict[str, int]]:
        """The endpoint's live traffic and mirror (shares above 0) without its deployments:
        with ``listed_since``, from the listing of the workspace's endpoints that the tick's
        reads share (no read of its own once that listing is in hand); None: one endpoint
        GET. Raises NotFound for an unknown endpoint."""
        ...

    def create_deployment(self, endpoint: str, effect: CreateDeployment) -> None:
        """Start creating ``effect.name`` as a clone of ``effect.source`` with the new model.
        Returns once Azure accepted the request; an existing deployment of that name with the
        same model is left alone."""
        ...

    def set_traffic(
        self,
        endpoint: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int],
        still_wanted: Callable[[], bool] | None = None,
    ) -> bool:
        """Set traffic and mirror in one update; raises AzureRuleViolation for a split Azure
        would refuse (sum not 100, mirror > 50 %, mirror to a live deployment, ...).
        ``still_wanted``, when given, is asked just before each update is sent (after a wait
        for a busy endpoint too; never when the split is already live): False ends the call
        with :class:`~shared.errors.Superseded` and nothing sent. Returns whether the split
        is live as the call returns (Azure reported the update done, or it already was);
        False when the update was accepted and is still running."""
        ...

    def delete_deployment(self, endpoint: str, name: str) -> None:
        """Start deleting a deployment at 0 % traffic; an absent one is already deleted."""
        ...

    def get_logs(self, endpoint: str, name: str, lines: int = 200) -> str:
        """The deployment's container logs (for a failed provisioning)."""
        ...

    def provisioning_error(self, endpoint: str, name: str) -> OperationError | None:
        """Azure's error for the deployment's last operation when it ended Failed or
        Canceled; None when it did not, or Azure does not say. NotFound for an absent one."""
        ...

    def scale_deployment(self, endpoint: str, name: str, instance_count: int) -> None:
        """Start setting a deployment's instance count (create-or-update with the count; it
        reads Updating, then Succeeded at that count). A deployment already at that count is
        left alone; NotFound for an absent one."""
        ...


@dataclass(frozen=True)
class AutoscaleSetting:
    """An Azure Monitor autoscale setting (``Microsoft.Insights/autoscalesettings``) that
    targets one deployment: its name, the deployment, whether it is enabled, and each
    profile's capacity as (minimum, maximum, default) instance counts."""

    name: str
    deployment: str
    enabled: bool = True
    capacities: tuple[tuple[int, int, int], ...] = ()


def autoscale_copy_name(endpoint: str, deployment: str, scope: str = "") -> str:
    """The name a retargeted copy gets: one per target, so copying again updates it. Names are
    unique per resource group and hyphens are allowed in both parts, so the names alone would
    collide ("fraud-eu" + "v7" and "fraud" + "eu-v7"); a digest of the target (``scope``: the
    workspace's id, when known) keeps them apart. An existing setting is never retargeted:
    Azure refuses a PUT that changes one's target (TargetResourceIdIsImmutable)."""
    digest = hashlib.sha256(f"{scope}/{endpoint}/{deployment}".lower().encode()).hexdigest()
    return f"{endpoint}-{deployment}-{digest[:8]}-autoscale".lower()


def autoscale_copy_name_on(
    names_on_target: Sequence[object], endpoint: str, deployment: str, scope: str = ""
) -> str:
    """The name a copy onto ``deployment`` is written under: that of an earlier copy of ours
    already on it (Azure takes one setting per resource), else a new one. ``names_on_target``
    are the names of the settings that target it now."""
    ours = [n for n in names_on_target if is_autoscale_copy_name(n, endpoint, deployment, scope)]
    return str(ours[0]) if ours else autoscale_copy_name(endpoint, deployment, scope)


def is_autoscale_copy_name(name: object, endpoint: str, deployment: str, scope: str = "") -> bool:
    """Whether ``name`` is one autocanary gives a copy on that target: this form, or the
    earlier ``{endpoint}-{deployment}-autoscale`` (checked only among the settings on the
    target, where that form is not ambiguous)."""
    text = str(name or "").lower()
    earlier = f"{endpoint}-{deployment}-autoscale".lower()
    return text in (autoscale_copy_name(endpoint, deployment, scope), earlier)


class AutoscaleControl(Protocol):
    """Autoscale settings of an endpoint's deployments. Every method is idempotent."""

    def settings_for(self, endpoint: str, deployment: str) -> list[AutoscaleSetting]:
        """The autoscale settings whose target is the deployment (usually none or one)."""
        ...

    def copy_to(self, endpoint: str, source: str, target: str) -> AutoscaleSetting | None:
        """Create (or update) a copy of the setting that targets ``source``, retargeted to
        ``target`` (profiles, rules and notifications kept; rules on ``source``'s metrics
        read ``target``'s). None, and nothing written, when ``source`` has no setting."""
        ...

    def delete_for(self, endpoint: str, deployment: str, copies_only: bool = False) -> int:
        """Delete every setting that targets the deployment (``copies_only``: only those
        autocanary copied, by their names); how many were deleted."""
        ...


@dataclass(frozen=True)
class MetricsQuery:
    """Per-minute canary-vs-baseline counts wanted for one endpoint over [start, end).

    errors: the status codes (``"429"``) and classes (``"5xx"``) counted as errors
    scope:  ``endpoint`` (the endpoint's metrics split by deployment: live traffic) or
            ``deployment`` (each deployment's own metrics: what it served, mirrored copies
            included; the shadow is judged on these)
    pool:   other deployments that served beside ``baseline`` before the rollout (an endpoint
            split between deployments): their minutes join the baseline's, so the canary is
            judged against everything users were served, not one deployment of it
    """

    endpoint: str
    canary: str
    baseline: str
    start: datetime
    end: datetime
    errors: tuple[str, ...] = DEFAULT_ERRORS
    scope: Literal["endpoint", "deployment"] = "endpoint"
    pool: tuple[str, ...] = ()

    @property
    def baselines(self) -> tuple[str, ...]:
        return (self.baseline, *self.pool)


def counts_as_error(status: str | None, errors: Sequence[str]) -> bool:
    """Whether an HTTP status (``"503"``) is one of ``errors`` (codes, or classes like 5xx)."""
    code = (status or "").strip().lower()
    if not code:
        return False
    for e in (e.lower() for e in errors):
        if e == code or (e.endswith("xx") and len(code) == 3 and code[0] == e[0]):
            return True
    return False


class MetricsSource(Protocol):
    """A source may also expose ``granularity_seconds``, the real length of one metric minute
    (the engine assumes Azure's 60 when it does not; the local emulator's are shorter)."""

    def stage_minutes(self, queries: Sequence[MetricsQuery]) -> Mapping[str, Sequence[Minute]]:
        """Closed minutes per query, keyed by endpoint name, oldest first. Minutes with no
        data at all are left out (never reported as zero traffic). Raises NoData when the
        source cannot answer at all."""
        ...


class EventPublisher(Protocol):
    def publish(
        self,
        event_type: str,
        subject: str,
        data: Mapping[str, Any],
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> None:
        """Publish one lifecycle event; ``event_id`` (the CloudEvent id) is the outbox entry's,
        the same on a resend, and ``time`` (the CloudEvent's) its decision's, not the send's.
        A failure raises: the event stays in the outbox."""
        ...


class Notifier(Protocol):
    """Chat webhooks (Teams Workflows, Slack incoming webhooks): shared/azure/webhooks.py, and
    shared/fakes/notifier.py beside it. Called off the reconcile's path (shared/notify/dispatch)."""

    def post(self, channel: Channel, payload: Mapping[str, Any]) -> None:
        """Post one JSON payload to ``channel``, bounded in time and retried within bounds;
        raises when it was not delivered (the error never shows the channel's URL)."""
        ...


@dataclass(frozen=True)
class ScoreAnswer:
    """One deployment's answer to one request: HTTP status (0: no answer), latency, body.
    The body is for comparing answers in memory only; it is never logged or stored."""

    status: int
    latency_ms: float
    body: bytes = b""
    error: str = ""


class Scoring(Protocol):
    """Requests straight to one deployment of an endpoint (shared/azure/scoring.py; fake in
    shared/fakes/scoring.py)."""

    def score(
        self,
        endpoint: str,
        deployment: str,
        bodies: Sequence[bytes],
        timeout_s: float,
        *,
        concurrency: int = 1,
        budget_s: float | None = None,
    ) -> list[ScoreAnswer]:
        """POST each body to the endpoint's scoring URI with the endpoint's key and the
        ``azureml-model-deployment`` header (never routed by weight, never mirrored); one
        answer per body, in order. A request that times out or cannot connect is an answer
        with status 0. At most ``concurrency`` requests are in flight; a request not started
        within ``budget_s`` of the call is never sent and answered status 0
        (``shared.scoring_plan.not_sent``), so a call lasts at most about ``budget_s +
        timeout_s``. Raises when the endpoint or its key cannot be read."""
        ...


class InputSamples(Protocol):
    """Request bodies to send: a JSON lines file, or the live deployment's recent
    ``model_inputs`` from data collection (shared/azure/datacollection.py)."""

    def inputs(self, endpoint: str, deployment: str, source: str, n: int) -> list[bytes]:
        """At most ``n`` request bodies from ``source`` (``data_collection`` or a file
        path), newest first for data collection. Raises NoData when there are none."""
        ...


class Judge(Protocol):
    def judge_stage(
        self, minutes: Sequence[Minute], settings: JudgeSettings, carried: Carried | None = None
    ) -> Verdict:
        """The verdict on a stage's settled minutes, with the rollback evidence ``carried``
        from the rollout's earlier judged phases (:mod:`shared.carry`)."""
        ...


@dataclass(frozen=True)
class Slot:
    """What is stored for one endpoint and changes atomically under one ETag: the active
    rollout (at most one: the store enforces it), the newest waiting version, and the outbox
    of lifecycle events written with the state they announce and not yet sent.
    ``etag`` is None when nothing was ever stored for the endpoint."""

    endpoint: str
    active: Rollout | None = None
    waiting: Waiting | None = None
    etag: str | None = None
    outbox: tuple[OutboxEvent, ...] = ()


@dataclass(frozen=True)
class SlotWrite:
    """One atomic change of a slot.

    active:     the active rollout after the change (None: none is active any more)
    waiting:    the waiting version after the change
    rollouts:   rollout records to upsert (the active one and any that just ended)
    decisions:  decision records to append (never rewritten)
    event_id:   an event id to claim in the same transaction (DuplicateEvent if claimed)
    outbox:     the slot's outbox after the change (None: unchanged)
    dropped:    unsent events taken off the outbox to keep it within its bounds
                (``shared.writes.MAX_OUTBOX_EVENTS``): not stored; the caller logs them
    """

    active: Rollout | None
    waiting: Waiting | None
    rollouts: tuple[Rollout, ...] = ()
    decisions: tuple[DecisionRecord, ...] = ()
    event_id: str | None = None
    outbox: tuple[OutboxEvent, ...] | None = None
    dropped: tuple[OutboxEvent, ...] = ()


@dataclass(frozen=True)
class IgnoredEvent:
    event_id: str
    model: ModelRef
    reason: str
    detail: str
    at: datetime


@dataclass(frozen=True)
class RolloutQuery:
    endpoint: str | None = None
    model: str | None = None
    phase: Phase | None = None
    active_only: bool = False
    limit: int = 100
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexEntry:
    """One row of the index of busy slots: a superset of the endpoints needing reconcile.
    ``since`` is when the row was last written; ``etag`` guards its removal."""

    endpoint: str
    since: datetime | None
    etag: str


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a history read; ``continuation`` (opaque) fetches the next, None at the end.
    A page may hold fewer items than asked for (even none) and still have a continuation."""

    items: list[T]
    continuation: str | None = None


@dataclass(frozen=True)
class PurgeReport:
    """What one bounded retention pass deleted; ``done`` when nothing expired is left."""

    rollouts: int = 0
    decisions: int = 0
    events: int = 0
    ignored: int = 0
    done: bool = True

    @property
    def rows(self) -> int:
        return self.rollouts + self.decisions + self.events + self.ignored


class RolloutStore(Protocol):
    def read(self, endpoint: str) -> Slot:
        """The endpoint's slot; an empty Slot (etag None) when nothing is stored."""
        ...

    def write(self, before: Slot, change: SlotWrite) -> Slot:
        """Apply ``change`` atomically if the slot is still as ``before`` (ETag, or absent when
        ``before.etag`` is None); raises StaleState otherwise, DuplicateEvent when
        ``change.event_id`` was already claimed for this endpoint. A change that changes
        nothing is not written and returns ``before``."""
        ...

    def event_seen(self, endpoint: str | None, event_id: str) -> bool:
        """Whether the event was already recorded (for ``endpoint``, or as ignored if None)."""
        ...

    def record_ignored(self, event: IgnoredEvent) -> bool:
        """Record an event that started no rollout; False if it was recorded before."""
        ...

    def active_endpoints(self) -> list[str]:
        """Endpoints that have an active rollout or a waiting version (from the index)."""
        ...

    def active_index(self) -> list[IndexEntry]:
        """The index of busy slots, read without scanning history: every endpoint with an
        active rollout or a waiting version, and possibly some whose slot just became idle."""
        ...

    def unindex(self, entry: IndexEntry, slot: Slot) -> bool:
        """Drop a stale index entry, given its slot as read after the entry: only when the slot
        is idle, the entry is older than the store's grace period and still unchanged. True if
        it was dropped."""
        ...

    def page_rollouts(self, query: RolloutQuery, continuation: str | None = None) -> Page[Rollout]:
        """One page of rollouts matching the query in the store's order (by endpoint, then
        oldest first), at most ``query.limit`` (1-1000); InvalidInput for a bad token."""
        ...

    def page_ignored(self, limit: int = 100, continuation: str | None = None) -> Page[IgnoredEvent]:
        """One page of ignored events, newest first."""
        ...

    def purge(self, cutoff: datetime, max_rows: int = 2000) -> PurgeReport:
        """Delete, in bounded batches, history older than ``cutoff``: ended rollouts last
        updated before it with their decisions, event inbox rows claimed before it and ignored
        events recorded before it. Active rollouts and slots are never touched. Deletes at most
        ``max_rows`` rows; a later call resumes where this one stopped."""
        ...

    def list_rollouts(self, query: RolloutQuery) -> list[Rollout]:
        """Rollouts matching the query, newest first, at most ``query.limit``."""
        ...

    def decisions(self, endpoint: str, rollout_id: str) -> list[DecisionRecord]:
        """Every decision of a rollout, oldest first."""
        ...

    def page_decisions(
        self,
        endpoint: str,
        rollout_id: str,
        limit: int = 100,
        continuation: str | None = None,
        from_seq: int = 1,
    ) -> Page[DecisionRecord]:
        """One page of a rollout's decisions, oldest first, from decision ``from_seq`` (or
        from where ``continuation``, the previous page's token, left off)."""
        ...

    def get_rollout(self, endpoint: str, rollout_id: str) -> Rollout | None:
        """One rollout of the endpoint by id (one point read), or None."""
        ...

    def ignored_events(self, limit: int = 100) -> list[IgnoredEvent]:
        """Events that started no rollout, newest first."""
        ...
