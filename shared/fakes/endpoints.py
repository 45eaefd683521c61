"""An in-memory Azure ML workspace's online endpoints, enforcing Azure's rules.

Deployments are created in ``Creating`` and become ``Succeeded`` (or ``Failed``, for models
listed in ``fail_models``) after ``provisioning_reads`` reads of the endpoint, so provisioning
is watched across reconcile ticks as in Azure. Deletion goes through ``Deleting`` likewise.

As in Azure (and the emulator), a new deployment can be missing from the first
``hidden_reads`` reads after its create (0 by default), and a create of a deployment that is
hidden or busy with another model is refused as :class:`~shared.errors.AzureBusy` (Azure's
409 while the deployment is Creating/Updating).

``arm_reads`` counts the ARM reads the production adapter would send for the same calls
(:mod:`shared.azure.endpoints`): an endpoint GET and a deployment list per endpoint read
(with ``listing_ttl_s`` > 0: the deployment list, plus one read per ``listing_page``
endpoints whenever the workspace's endpoints are listed again, by the same
:class:`~shared.azure.endpoint_listing.Listing` rules on ``listing_clock``), and two before
each traffic update. :meth:`arm_read` is where each is
counted (outside the fake's lock: a subclass may add latency there).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shared.azure.endpoint_listing import DEFAULT_TTL_S, Listing, count_endpoint_read
from shared.effects import CreateDeployment
from shared.errors import AzureBusy, InvalidInput, NotFound, Superseded
from shared.observation import DeploymentInfo, EndpointInfo, OperationError
from shared.rules import check_delete, check_deployment_name, check_split, shares


@dataclass
class _Deployment:
    name: str
    model: str
    state: str
    instance_count: int
    source: str | None = None
    reads_left: int = 0
    hidden_left: int = 0  # reads that still miss it
    hidden: bool = False  # missing from the reads so far (a create now is refused as busy)
    logs: str = ""
    error: OperationError | None = None  # its last operation's, when it ended badly


@dataclass
class _Endpoint:
    name: str
    traffic: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)
    deployments: dict[str, _Deployment] = field(default_factory=dict)


def ended_badly(state: str, model: str) -> OperationError | None:
    """The error Azure reports for a create that ended ``state``, as the emulator's (whose
    words follow Azure ML's troubleshooting guide, how-to-troubleshoot-online-endpoints:
    ResourceNotReady when the scoring container crashes, OperationCanceled when another
    operation took over); None for one that succeeded."""
    if state == "Canceled":
        return OperationError(
            "OperationCanceled", "The operation was canceled by another operation."
        )
    if state == "Failed":
        return OperationError(
            "ResourceNotReady",
            f"User container has crashed or terminated: init() failed: cannot load model "
            f"{model}. Look at the deployment logs (getLogs) for the traceback.",
        )
    return None


class FakeEndpoints:
    def __init__(
        self,
        provisioning_reads: int = 1,
        hidden_reads: int = 0,
        *,
        listing_ttl_s: float = DEFAULT_TTL_S,
        listing_page: int = 100,
        listing_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._listing: Listing[bool] = Listing(listing_ttl_s, listing_clock)
        self.listing_page = max(1, listing_page)
        self.arm_reads = 0
        self._endpoints: dict[str, _Endpoint] = {}
        self.provisioning_reads = provisioning_reads
        self.hidden_reads = hidden_reads
        self.fail_models: set[str] = set()
        # models whose next provisionings end Canceled (each entry once: a list, in order)
        self.cancel_models: list[str] = []
        self.fail_next: list[Exception] = []  # raised, in order, by the next calls
        self.fail_op: dict[str, list[Exception]] = {}  # raised, in order, by calls of one op
        self.calls: list[tuple[str, str]] = []

    # ---------------------------------------------------------------- test set-up helpers
    def add_endpoint(
        self,
        name: str,
        deployments: Mapping[str, str],
        traffic: Mapping[str, int],
        instance_count: int = 1,
    ) -> None:
        """An endpoint with provisioned deployments {name: model asset id} and a split."""
        with self._lock:
            ep = _Endpoint(name)
            for dep, model in deployments.items():
                ep.deployments[dep] = _Deployment(dep, model, "Succeeded", instance_count)
            check_split(dict(traffic), {}, ep.deployments)
            ep.traffic = dict(traffic)
            self._endpoints[name] = ep

    def set_by_hand(
        self, endpoint: str, traffic: Mapping[str, int], mirror: Mapping[str, int] | None = None
    ) -> None:
        """A change made outside autocanary (portal, CLI)."""
        with self._lock:
            ep = self._get(endpoint)
            check_split(dict(traffic), dict(mirror or {}), ep.deployments)
            ep.traffic = dict(traffic)
            ep.mirror = dict(mirror or {})

    def delete_by_hand(self, endpoint: str, name: str) -> None:
        with self._lock:
            ep = self._get(endpoint)
            check_delete(name, ep.traffic, ep.mirror)
            ep.deployments.pop(name, None)

    def traffic(self, endpoint: str) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in self._get(endpoint).traffic.items() if v > 0}

    def mirror(self, endpoint: str) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in self._get(endpoint).mirror.items() if v > 0}

    def deployment_names(self, endpoint: str) -> list[str]:
        with self._lock:
            return sorted(self._get(endpoint).deployments)

    def peek(self, endpoint: str) -> EndpointInfo:
        """The endpoint as held now, without faults and without advancing provisioning (for
        checks made from outside, e.g. invariants after each step of a test)."""
        with self._lock:
            ep = self._get(endpoint)
            return EndpointInfo(
                name=ep.name,
                traffic={name: ep.traffic.get(name, 0) for name in ep.deployments},
                mirror={k: v for k, v in ep.mirror.items() if v > 0},
                deployments={
                    d.name: DeploymentInfo(d.name, d.state, d.model, d.instance_count)
                    for d in ep.deployments.values()
                },
            )

    def raw_split(self, endpoint: str) -> tuple[dict[str, int], dict[str, int]]:
        """Traffic and mirror exactly as stored, deployments that no longer exist included."""
        with self._lock:
            ep = self._get(endpoint)
            return dict(ep.traffic), dict(ep.mirror)

    # ---------------------------------------------------------------- the port
    def arm_read(self, count: int = 1) -> None:
        """``count`` ARM reads the adapter would send (a subclass may add their latency)."""
        with self._count:
            self.arm_reads += count

    def _endpoint_names(self) -> list[str]:
        with self._lock:
            return list(self._endpoints)

    def _endpoint_reads(
        self, endpoint: str, listed_since: float | None = None, *, deployments: bool = True
    ) -> None:
        count_endpoint_read(
            self._listing,
            endpoint,
            self._endpoint_names,
            self.listing_page,
            self.arm_read,
            listed_since,
            deployments,
        )

    def get_split(
        self, endpoint: str, *, listed_since: float | None = None
    ) -> tuple[dict[str, int], dict[str, int]]:
        self._endpoint_reads(endpoint, listed_since, deployments=False)
        with self._lock:
            self.calls.append(("get_split", endpoint))
            # only faults aimed at it (fail_next is for the calls a test lines them up for)
            if self.fail_op.get("get_split"):
                raise self.fail_op["get_split"].pop(0)
            ep = self._get(endpoint)
            return shares(ep.traffic), shares(ep.mirror)

    def get_endpoint(self, endpoint: str, *, listed_since: float | None = None) -> EndpointInfo:
        self._endpoint_reads(endpoint, listed_since)
        with self._lock:
            self._fault("get_endpoint", endpoint)
            ep = self._get(endpoint)
            hidden = set()
            for dep in list(ep.deployments.values()):
                if dep.hidden:
                    if dep.hidden_left > 0:
                        dep.hidden_left -= 1
                        hidden.add(dep.name)
                        continue
                    dep.hidden = False
                if dep.state in ("Creating", "Updating", "Deleting"):
                    if dep.reads_left > 0:
                        dep.reads_left -= 1
                    elif dep.state == "Deleting":
                        del ep.deployments[dep.name]
                    else:
                        failed = dep.model in self.fail_models
                        canceled = dep.model in self.cancel_models
                        if canceled:
                            self.cancel_models.remove(dep.model)
                        dep.state = "Canceled" if canceled else "Failed" if failed else "Succeeded"
                        dep.error = ended_badly(dep.state, dep.model)
                        if failed and not canceled:
                            dep.logs = f"init() failed: cannot load model {dep.model}\n"
            seen = [d for d in ep.deployments.values() if d.name not in hidden]
            traffic = {d.name: ep.traffic.get(d.name, 0) for d in seen}
            return EndpointInfo(
                name=ep.name,
                traffic=traffic,
                mirror={k: v for k, v in ep.mirror.items() if v > 0},
                deployments={
                    d.name: DeploymentInfo(d.name, d.state, d.model, d.instance_count) for d in seen
                },
            )

    def create_deployment(self, endpoint: str, effect: CreateDeployment) -> None:
        with self._lock:
            self._fault("create_deployment", effect.name)
            ep = self._get(endpoint)
            check_deployment_name(effect.name)
            source = ep.deployments.get(effect.source)
            if source is None:
                raise NotFound(f"deployment {effect.source} not found", code="ResourceNotFound")
            existing = ep.deployments.get(effect.name)
            if (
                existing is not None
                and not existing.hidden
                and existing.model == effect.model.asset_id
                and existing.state not in ("Deleting", "Failed", "Canceled")
            ):
                return
            if existing is not None and (
                existing.hidden or existing.state in ("Creating", "Updating", "Deleting")
            ):
                raise AzureBusy(
                    f"Cannot update deployment {effect.name} because it is in "
                    f"{existing.state} provisioning state.",
                    details={"status": 409},
                )
            ep.deployments[effect.name] = _Deployment(
                effect.name,
                effect.model.asset_id,
                "Creating",
                effect.instance_count or source.instance_count,
                source=effect.source,
                reads_left=self.provisioning_reads,
                hidden_left=self.hidden_reads,
                hidden=self.hidden_reads > 0,
            )

    def set_traffic(
        self,
        endpoint: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int],
        still_wanted: Callable[[], bool] | None = None,
    ) -> bool:
        self.arm_read(2)  # the adapter's fresh endpoint GET (the SDK's lists deployments too)
        self._listing.changed(endpoint)
        # As the adapter: asked right before the update would be sent, and outside the lock
        # (the question reads the rollout store, and may take its time).
        wanted = still_wanted is None or self._is_live(endpoint, traffic, mirror) or still_wanted()
        if not wanted:
            raise Superseded(f"set traffic of {endpoint}: a newer decision replaced it")
        with self._lock:
            self._fault("set_traffic", endpoint)
            ep = self._get(endpoint)
            check_split(dict(traffic), dict(mirror), ep.deployments)
            ep.traffic = {k: v for k, v in traffic.items() if v > 0}
            ep.mirror = {k: v for k, v in mirror.items() if v > 0}
            return True  # applied at once

    def _is_live(
        self, endpoint: str, traffic: Mapping[str, int], mirror: Mapping[str, int]
    ) -> bool:
        with self._lock:
            ep = self._get(endpoint)
            return (ep.traffic, ep.mirror) == (shares(traffic), shares(mirror))

    def delete_deployment(self, endpoint: str, name: str) -> None:
        self._endpoint_reads(endpoint)
        self._listing.changed(endpoint)
        with self._lock:
            self._fault("delete_deployment", name)
            ep = self._get(endpoint)
            dep = ep.deployments.get(name)
            if dep is None:
                return
            check_delete(name, ep.traffic, ep.mirror)
            dep.state = "Deleting"
            dep.reads_left = self.provisioning_reads

    def scale_deployment(self, endpoint: str, name: str, instance_count: int) -> None:
        with self._lock:
            self._fault("scale_deployment", name)
            dep = self._get(endpoint).deployments.get(name)
            if dep is None or dep.hidden or dep.state == "Deleting":
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
            # As Azure: the count asked for reads back at once, the deployment Updating.
            dep.instance_count = instance_count
            dep.state = "Updating"
            dep.reads_left = self.provisioning_reads

    def get_logs(self, endpoint: str, name: str, lines: int = 200) -> str:
        with self._lock:
            dep = self._get(endpoint).deployments.get(name)
            if dep is None:
                raise NotFound(f"deployment {name} not found", code="ResourceNotFound")
            return "\n".join(dep.logs.splitlines()[-lines:])

    def provisioning_error(self, endpoint: str, name: str) -> OperationError | None:
        with self._lock:
            dep = self._get(endpoint).deployments.get(name)
            if dep is None:
                raise NotFound(f"deployment {name} not found", code="ResourceNotFound")
            return dep.error if dep.state in ("Failed", "Canceled") else None

    # ---------------------------------------------------------------- internals
    def _get(self, endpoint: str) -> _Endpoint:
        ep = self._endpoints.get(endpoint)
        if ep is None:
            raise NotFound(f"online endpoint {endpoint} not found", code="ResourceNotFound")
        return ep

    def _fault(self, op: str, target: str) -> None:
        self.calls.append((op, target))
        if self.fail_op.get(op):
            raise self.fail_op[op].pop(0)
        if self.fail_next:
            raise self.fail_next.pop(0)
