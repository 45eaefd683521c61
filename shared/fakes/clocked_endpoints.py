"""Online endpoints in memory whose deployments provision and delete on a clock.

Where :class:`shared.fakes.endpoints.FakeEndpoints` counts reads, this fake follows a
:class:`shared.ports.Clock`: a created deployment is ``Creating`` (``Updating`` when an existing
one gets a new model) for ``provisioning_s`` and then ``Succeeded`` or ``Failed``; a deleted one
is ``Deleting`` for ``deletion_s`` and then gone, as in Azure, where a create takes minutes and
nothing blocks on it (azure.md). Azure's rules on splits, names and deletes are those of
:mod:`shared.rules`, the same as the other fake.

Two things are kept as they really are, for whoever checks invariants: :meth:`snapshot` returns
the whole traffic map, including entries naming a deployment that has since gone (a deployment
deleted while traffic was routed to it), and the routing ``history`` of each endpoint.

``before_change`` (if set) is called with the endpoint name before anything that changes what
an endpoint serves (a split, a deployment's state), so a traffic model can account for the time
until then under the old state.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.azure.endpoint_listing import DEFAULT_TTL_S, Listing, count_endpoint_read
from shared.effects import CreateDeployment
from shared.errors import (
    AzureBusy,
    InvalidInput,
    NotFound,
    Superseded,
    TransientUpstreamError,
    UpstreamError,
)
from shared.fakes.endpoints import ended_badly
from shared.model import PROVISION_FAILED
from shared.observation import DeploymentInfo, EndpointInfo, OperationError
from shared.ports import Clock
from shared.rules import check_delete, check_deployment_name, check_split, shares

SERVING_STATES = frozenset({"Succeeded", "Updating", "Scaling"})


@dataclass
class ClockedDeployment:
    name: str
    model: str
    state: str
    instance_count: int
    source: str | None = None
    ready_at: datetime | None = None  # when Creating/Updating/Deleting ends
    will_fail: bool = False
    logs: str = ""
    error: OperationError | None = None  # its last operation's, when it ended badly
    visible_at: datetime | None = None  # a new deployment is missing from reads until then


@dataclass
class ClockedEndpoint:
    name: str
    traffic: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)
    deployments: dict[str, ClockedDeployment] = field(default_factory=dict)
    modified_at: datetime | None = None  # as Azure's systemData.lastModifiedAt
    # a traffic update sent and not landed yet: (traffic, mirror, when it lands)
    pending: tuple[dict[str, int], dict[str, int], datetime] | None = None


def model_key(asset_id: str) -> str:
    """``azureml:fraud:2`` -> ``fraud:2``."""
    return asset_id[len("azureml:") :] if asset_id.startswith("azureml:") else asset_id


class ClockedEndpoints:
    """EndpointControl on a clock; thread safe."""

    def __init__(
        self,
        clock: Clock,
        *,
        provisioning_s: float = 120.0,
        deletion_s: float = 60.0,
        fail_rate: float = 0.0,
        seed: int = 0,
        hidden_s: float = 0.0,
        scaling_s: float | None = None,
        listing_ttl_s: float = DEFAULT_TTL_S,
        listing_page: int = 100,
        listing_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._endpoints: dict[str, ClockedEndpoint] = {}
        self._rng = random.Random(seed)
        self.provisioning_s = provisioning_s
        self.deletion_s = deletion_s
        self.scaling_s = provisioning_s if scaling_s is None else scaling_s
        self.fail_rate = fail_rate
        # Azure answers 404 for a new deployment for a while after its create was accepted
        # (azure-dev issue 4037), and 409 to a second create meanwhile (as FakeEndpoints).
        self.hidden_s = hidden_s
        # seconds a traffic update takes to land (0: at once). Until then set_traffic answers
        # False (not landed within the call), reads show the split before it, and another
        # update of the endpoint, a create or a scale on it is refused as busy (409), as the
        # emulator does (an endpoint update holds the endpoint; azure-dev PR 3881 on reads)
        self.traffic_s = 0.0
        self.fail_provisioning: set[str] = set()  # model keys (name:version) or deployment names
        self.refuse_create: dict[str, str] = {}  # model key -> Azure error code
        self.before_change: Callable[[str], None] | None = None
        self.fail_next: list[Exception] = []  # raised, in order, by the next port calls
        self.fail_calls: dict[str, int] = {}  # operation -> how many of its next calls fail
        self.calls: list[tuple[str, str]] = []
        # ARM reads as the production adapter sends them (see FakeEndpoints.arm_reads), the
        # workspace listing aging on ``listing_clock`` (monotonic seconds; not ``clock``,
        # which a test's clock may advance at every look).
        self._listing: Listing[bool] = Listing(listing_ttl_s, listing_clock)
        self.listing_page = max(1, listing_page)
        self.arm_reads = 0
        self._count = threading.Lock()

    # ---------------------------------------------------------------- set-up and hand changes
    def add_endpoint(
        self,
        name: str,
        deployments: Mapping[str, str],
        traffic: Mapping[str, int],
        mirror: Mapping[str, int] | None = None,
        instance_count: int = 1,
    ) -> None:
        """An endpoint with provisioned deployments {name: model asset id} and a split."""
        with self._lock:
            ep = ClockedEndpoint(name)
            for dep, model in deployments.items():
                ep.deployments[dep] = ClockedDeployment(dep, model, "Succeeded", instance_count)
            check_split(dict(traffic), dict(mirror or {}), ep.deployments)
            ep.traffic = {k: v for k, v in traffic.items() if v > 0}
            ep.mirror = {k: v for k, v in (mirror or {}).items() if v > 0}
            ep.modified_at = self._clock.now()
            self._endpoints[name] = ep

    def set_by_hand(
        self,
        endpoint: str,
        traffic: Mapping[str, int] | None = None,
        mirror: Mapping[str, int] | None = None,
    ) -> None:
        """A change made outside autocanary (portal, CLI); None keeps that map as it is."""
        with self._lock:
            ep = self._get(endpoint)
            self._settle(ep)
            new_traffic = dict(ep.traffic if traffic is None else traffic)
            new_mirror = dict(ep.mirror if mirror is None else mirror)
            check_split(new_traffic, new_mirror, ep.deployments)
            self._changing(endpoint)
            ep.traffic = {k: v for k, v in new_traffic.items() if v > 0}
            ep.mirror = {k: v for k, v in new_mirror.items() if v > 0}
            ep.modified_at = self._clock.now()

    def delete_by_hand(self, endpoint: str, name: str) -> None:
        with self._lock:
            self._delete(endpoint, name)

    def snapshot(self, endpoint: str) -> EndpointInfo:
        """The endpoint as it really is now (traffic entries to vanished deployments kept)."""
        with self._lock:
            ep = self._get(endpoint)
            self._settle(ep)
            return self._info(ep, as_read=False)

    def peek(self, endpoint: str) -> EndpointInfo:
        """The endpoint as last changed, without finishing what the clock says is done (what
        served until now, for a traffic model called from ``before_change``)."""
        with self._lock:
            return self._info(self._get(endpoint), as_read=False)

    def sources(self, endpoint: str) -> dict[str, str]:
        """Deployment -> the deployment it was cloned from (for those created here)."""
        with self._lock:
            deps = self._get(endpoint).deployments.values()
            return {d.name: d.source for d in deps if d.source is not None}

    def endpoint_names(self) -> list[str]:
        with self._lock:
            return sorted(self._endpoints)

    # ---------------------------------------------------------------- the port
    def _arm_read(self, count: int = 1) -> None:
        with self._count:
            self.arm_reads += count

    def _endpoint_names(self) -> list[str]:
        return list(self._endpoints)

    def _endpoint_reads(
        self, endpoint: str, listed_since: float | None = None, *, deployments: bool = True
    ) -> None:
        count_endpoint_read(
            self._listing,
            endpoint,
            self._endpoint_names,
            self.listing_page,
            self._arm_read,
            listed_since,
            deployments,
        )

    def get_split(
        self, endpoint: str, *, listed_since: float | None = None
    ) -> tuple[dict[str, int], dict[str, int]]:
        self._endpoint_reads(endpoint, listed_since, deployments=False)
        with self._lock:
            self.calls.append(("get_split", endpoint))  # no scripted faults: they are for
            # the calls a scenario scripts them for (get_endpoint, set_traffic, ...)
            ep = self._get(endpoint)
            self._settle(ep)
            return shares(ep.traffic), shares(ep.mirror)

    def get_endpoint(self, endpoint: str, *, listed_since: float | None = None) -> EndpointInfo:
        self._endpoint_reads(endpoint, listed_since)
        with self._lock:
            self._fault("get_endpoint", endpoint)
            ep = self._get(endpoint)
            self._settle(ep)
            return self._info(ep)

    def create_deployment(self, endpoint: str, effect: CreateDeployment) -> None:
        with self._lock:
            self._fault("create_deployment", effect.name)
            ep = self._get(endpoint)
            self._settle(ep)
            self._not_updating(ep)
            check_deployment_name(effect.name)
            source = ep.deployments.get(effect.source)
            if source is None:
                raise NotFound(f"deployment {effect.source} not found", code="ResourceNotFound")
            key = model_key(effect.model.asset_id)
            code = self.refuse_create.get(key) or self.refuse_create.get(effect.name)
            if code is not None:
                raise UpstreamError(
                    f"Azure refused to create {effect.name}: {code}",
                    code=code,
                    details={"deployment": effect.name, "model": effect.model.asset_id},
                )
            existing = ep.deployments.get(effect.name)
            hidden = existing is not None and self._hidden(existing)
            if (
                existing is not None
                and not hidden
                and existing.model == effect.model.asset_id
                and existing.state not in ("Deleting", *PROVISION_FAILED)
            ):
                return  # a Failed or Canceled one is put again: Azure provisions anew
            if existing is not None and (
                hidden or existing.state in ("Creating", "Updating", "Deleting")
            ):
                raise AzureBusy(
                    f"Cannot update deployment {effect.name} because it is in "
                    f"{existing.state} provisioning state.",
                    details={"status": 409},
                )
            fails = (
                key in self.fail_provisioning
                or effect.name in self.fail_provisioning
                or (self.fail_rate > 0 and self._rng.random() < self.fail_rate)
            )
            self._changing(endpoint)
            ep.deployments[effect.name] = ClockedDeployment(
                effect.name,
                effect.model.asset_id,
                "Updating" if existing is not None else "Creating",
                effect.instance_count or source.instance_count,
                source=effect.source,
                ready_at=self._clock.now() + timedelta(seconds=self.provisioning_s),
                will_fail=fails,
                visible_at=(
                    self._clock.now() + timedelta(seconds=self.hidden_s)
                    if self.hidden_s > 0 and existing is None
                    else None
                ),
            )

    def set_traffic(
        self,
        endpoint: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int],
        still_wanted: Callable[[], bool] | None = None,
    ) -> bool:
        self._arm_read(2)  # the adapter's fresh endpoint GET (the SDK's lists deployments too)
        self._listing.changed(endpoint)
        wanted, wanted_mirror = shares(traffic), shares(mirror)
        if still_wanted is not None:
            with self._lock:
                live = self._get(endpoint)
                already = (live.traffic, live.mirror) == (wanted, wanted_mirror)
            # as the adapter: asked right before the update would be sent, outside the lock
            if not already and not still_wanted():
                raise Superseded(f"set traffic of {endpoint}: a newer decision replaced it")
        with self._lock:
            self._fault("set_traffic", endpoint)
            ep = self._get(endpoint)
            self._settle(ep)
            if ep.pending is not None and ep.pending[:2] == (wanted, wanted_mirror):
                return False  # the same update, still landing
            self._not_updating(ep)
            check_split(dict(traffic), dict(mirror), ep.deployments)
            if (ep.traffic, ep.mirror) == (wanted, wanted_mirror):
                return True  # no update is sent
            self._changing(endpoint)
            if self.traffic_s > 0:  # sent; it lands later (_settle)
                lands = self._clock.now() + timedelta(seconds=self.traffic_s)
                ep.pending = (dict(wanted), dict(wanted_mirror), lands)
                return False
            ep.modified_at = self._clock.now()
            ep.traffic = {k: v for k, v in traffic.items() if v > 0}
            ep.mirror = {k: v for k, v in mirror.items() if v > 0}
            return True  # applied at once

    def delete_deployment(self, endpoint: str, name: str) -> None:
        self._endpoint_reads(endpoint)
        self._listing.changed(endpoint)
        with self._lock:
            self._fault("delete_deployment", name)
            self._delete(endpoint, name)

    def scale_deployment(self, endpoint: str, name: str, instance_count: int) -> None:
        with self._lock:
            self._fault("scale_deployment", name)
            ep = self._get(endpoint)
            self._settle(ep)
            self._not_updating(ep)
            dep = ep.deployments.get(name)
            if dep is None or self._hidden(dep) or dep.state == "Deleting":
                raise NotFound(f"deployment {name} not found", code="ResourceNotFound")
            if instance_count < 1:
                raise InvalidInput(f"instance_count must be at least 1, got {instance_count}")
            if dep.instance_count == instance_count and dep.state == "Succeeded":
                return
            if dep.state in ("Creating", "Updating"):
                raise AzureBusy(
                    f"Cannot update deployment {name} because it is in {dep.state} "
                    "provisioning state.",
                    details={"status": 409},
                )
            # As Azure (and the emulator): the count asked for reads back at once, the
            # deployment Updating (it keeps serving) until the instances run.
            self._changing(endpoint)
            dep.instance_count = instance_count
            dep.state = "Updating"
            # the new instances load the model as a create's do (the emulator provisions them
            # anew): a model or deployment listed to fail fails again, now at the new count
            dep.will_fail = model_key(dep.model) in self.fail_provisioning or (
                name in self.fail_provisioning
            )
            dep.ready_at = self._clock.now() + timedelta(seconds=self.scaling_s)

    def get_logs(self, endpoint: str, name: str, lines: int = 200) -> str:
        with self._lock:
            dep = self._read_deployment("get_logs", endpoint, name)
            return "\n".join(dep.logs.splitlines()[-lines:])

    def provisioning_error(self, endpoint: str, name: str) -> OperationError | None:
        with self._lock:
            dep = self._read_deployment("provisioning_error", endpoint, name)
            return dep.error if dep.state in ("Failed", "Canceled") else None

    # ---------------------------------------------------------------- internals
    def _get(self, endpoint: str) -> ClockedEndpoint:
        ep = self._endpoints.get(endpoint)
        if ep is None:
            raise NotFound(f"online endpoint {endpoint} not found", code="ResourceNotFound")
        return ep

    def _read_deployment(self, op: str, endpoint: str, name: str) -> ClockedDeployment:
        """One deployment as a read of ``op`` finds it (faults first, the clock settled)."""
        self._fault(op, name)
        ep = self._get(endpoint)
        self._settle(ep)
        dep = ep.deployments.get(name)
        if dep is None:
            raise NotFound(f"deployment {name} not found", code="ResourceNotFound")
        return dep

    def _fault(self, op: str, target: str) -> None:
        self.calls.append((op, target))
        if self.fail_next:
            raise self.fail_next.pop(0)
        if self.fail_calls.get(op, 0) > 0:
            self.fail_calls[op] -= 1
            raise TransientUpstreamError(f"{op} failed (scripted fault)", code="ServiceUnavailable")

    def _changing(self, endpoint: str) -> None:
        if self.before_change is not None:
            self.before_change(endpoint)

    def _delete(self, endpoint: str, name: str) -> None:
        ep = self._get(endpoint)
        self._settle(ep)
        dep = ep.deployments.get(name)
        if dep is None or dep.state == "Deleting":
            return
        check_delete(name, ep.traffic, ep.mirror)
        self._changing(endpoint)
        dep.state = "Deleting"
        dep.ready_at = self._clock.now() + timedelta(seconds=self.deletion_s)

    def _not_updating(self, ep: ClockedEndpoint) -> None:
        """A traffic update still landing holds the endpoint: Azure answers 409 meanwhile."""
        if ep.pending is not None:
            raise AzureBusy(
                f"Cannot update endpoint {ep.name}: a traffic update is in progress.",
                details={"status": 409},
            )

    def _settle(self, ep: ClockedEndpoint) -> None:
        """Finish what the clock says has finished."""
        now = self._clock.now()
        if ep.pending is not None and ep.pending[2] <= now:
            self._changing(ep.name)
            traffic, mirror, _ = ep.pending
            ep.pending = None
            ep.traffic, ep.mirror = dict(traffic), dict(mirror)
            ep.modified_at = now
        due = [
            d
            for d in ep.deployments.values()
            if d.ready_at is not None and d.ready_at <= now and d.state != "Succeeded"
        ]
        if not due:
            return
        self._changing(ep.name)
        for dep in due:
            dep.ready_at = None
            if dep.state == "Deleting":
                del ep.deployments[dep.name]
            elif dep.will_fail:
                dep.state = "Failed"
                dep.logs = f"init() failed: cannot load model {dep.model}\n"
                dep.error = ended_badly(dep.state, dep.model)
            else:
                dep.state = "Succeeded"
                dep.error = None

    def _hidden(self, dep: ClockedDeployment) -> bool:
        return dep.visible_at is not None and self._clock.now() < dep.visible_at

    def _info(self, ep: ClockedEndpoint, *, as_read: bool = True) -> EndpointInfo:
        # As azure-ai-ml's GET: every deployment listed, at 0 when it has no traffic; an entry
        # naming a deployment that has gone is kept (whether Azure drops it is unconfirmed).
        seen = [d for d in ep.deployments.values() if not (as_read and self._hidden(d))]
        traffic = {**{d.name: 0 for d in seen}, **ep.traffic}
        return EndpointInfo(
            name=ep.name,
            traffic=traffic,
            mirror=dict(ep.mirror),
            deployments={
                d.name: DeploymentInfo(d.name, d.state, d.model, d.instance_count) for d in seen
            },
            modified_at=ep.modified_at,
        )
