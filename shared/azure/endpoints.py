"""EndpointControl on Azure ML managed online endpoints, through azure-ai-ml's MLClient.

Calls (Azure/azure-sdk-for-python sdk/ml/azure-ai-ml/azure/ai/ml/operations/
_online_endpoint_operations.py and _online_deployment_operations.py):

- An endpoint read is two ARM reads: the endpoint alone (``traffic``, ``mirror_traffic``,
  ``provisioning_state``), through the generated operation the SDK's ``online_endpoints.get``
  calls, and ``online_deployments.list(endpoint)`` (every deployment with
  ``provisioning_state``, ``model`` as an ARM id and ``instance_count``).
  ``online_endpoints.get(name)`` itself is not used for reads: it lists the deployments too
  (to zero-fill ``traffic``), and the adapter needs the list's states anyway. With
  ``listing_ttl_s`` > 0 (off by default) the split comes instead from one listing of the
  workspace's endpoints, ``online_endpoints.list()``, reused for that long: one ARM read per
  endpoint read plus the listing's pages, but a change made outside this process is seen up
  to ``listing_ttl_s`` late, and the engine would decide on it, e.g. fail a rollout for "no
  live deployment" on an endpoint whose traffic was set just before the model was registered
  (:mod:`shared.azure.endpoint_listing`).
- ``online_deployments.get(name, endpoint)`` then ``begin_create_or_update(deployment,
  skip_script_validation=True)`` to clone a deployment with a new model
  (:mod:`shared.azure.clone`: data collection, model mount path and properties included). The
  clone references registered assets only (ARM ids as the service returned them, the model as
  ``azureml:name:version``), so ``upload_dependencies`` uploads nothing and script validation
  is skipped (it is skipped for ARM-id code anyway). The poller is not waited for: a
  deployment takes minutes; the engine reads ``provisioning_state`` on later ticks.
- ``online_endpoints.begin_create_or_update(endpoint)`` with the endpoint as just read
  (``online_endpoints.get``, fresh: the PUT replaces the endpoint) and new
  ``traffic``/``mirror_traffic`` (zero entries dropped; ``{}`` clears mirroring), unless the
  endpoint already has exactly that split. Refused as busy (409: another operation on the
  endpoint is running, e.g. the previous traffic update), the read and update are tried again
  for up to ``busy_wait_s`` (30 s by default, honouring Retry-After), so that an alert's
  rollback restores traffic before the webhook answers when Azure frees up. The update is
  waited for, at most ``traffic_wait_s`` (20 s by default), and then the endpoint is read until
  it shows the new split, for at most as long again (reads can trail the update: azure-dev PR
  3881): a traffic update is quick, waiting
  lets a following delete of the deployment that lost its traffic succeed in the same tick,
  and a refused update (rules checked again by Azure) comes back as AzureRuleViolation. When
  the wait runs out the call returns anyway: the engine verifies the live split on its next
  tick before it judges anything.
- ``online_deployments.begin_delete(name, endpoint)``, not waited for.
- ``online_deployments.get_logs(name, endpoint, lines, container_type=...)``: the inference
  server's log, or the storage initializer's when that one is empty.
- A failed deployment's error: the status of its last operation, named by the deployment
  (:mod:`shared.azure.operation_status`).

Every call goes through :func:`shared.azure.retry.call` (bounded retries of transient
failures, Azure errors mapped to autocanary's), paced by :data:`shared.azure.retry.ARM_PACER`
(which the client's per-call policy feeds ARM's throttling headers). azure.ai.ml is imported
on first use only (about 2 s); one MLClient is built per instance, under a lock
(:func:`shared.azure.ml_client.build_ml_client`). What the reads return becomes autocanary's
EndpointInfo in :mod:`shared.azure.ml_entities`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from shared import deadline
from shared.azure import retry
from shared.azure.clone import TAG_MODEL as TAG_MODEL
from shared.azure.clone import TAG_SOURCE as TAG_SOURCE
from shared.azure.clone import clone_deployment, copy_deployment, read_rest
from shared.azure.endpoint_listing import DEFAULT_TTL_S, Listing
from shared.azure.error_map import map_error
from shared.azure.ml_client import build_ml_client
from shared.azure.ml_entities import (
    endpoint_info,
    int_or_none,
    provisioning_state,
    same_model,
)
from shared.azure.operation_status import read_operation_error
from shared.effects import CreateDeployment
from shared.errors import InvalidInput, NotFound, Superseded, UpstreamError
from shared.model import PROVISION_FAILED
from shared.observation import EndpointInfo, OperationError
from shared.rules import check_delete, check_deployment_name, check_split, folded, shares

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

T = TypeVar("T")
log = logging.getLogger("autocanary.azure")


class MLEndpointControl:
    """The EndpointControl port on one Azure ML workspace (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        credential: TokenCredential,
        *,
        retry_policy: retry.RetryPolicy = retry.DEFAULT_RETRY,
        traffic_wait_s: float = 20.0,
        busy_wait_s: float = 30.0,
        listing_ttl_s: float = DEFAULT_TTL_S,
        client_factory: Callable[[], Any] | None = None,
        pacer: retry.Pacer | None = retry.ARM_PACER,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if traffic_wait_s < 0 or busy_wait_s < 0:
            raise ValueError("traffic_wait_s and busy_wait_s must not be negative")
        self._settings = settings
        self._credential = credential
        self._retry = retry_policy
        self._traffic_wait_s = traffic_wait_s
        self._busy_wait_s = busy_wait_s
        self._sleep = sleep
        self._pacer = pacer
        self._listing: Listing[Any] = Listing(listing_ttl_s)
        self._client = retry.LazyClient(client_factory or self._build_client)

    # ---------------------------------------------------------------- the port
    def get_endpoint(self, endpoint: str, *, listed_since: float | None = None) -> EndpointInfo:
        ep, deployments = self._read(endpoint, listed_since)
        return endpoint_info(endpoint, ep, deployments)

    def get_split(
        self, endpoint: str, *, listed_since: float | None = None
    ) -> tuple[dict[str, int], dict[str, int]]:
        ep = self._endpoint_entity(endpoint, listed_since)
        return shares(ep.traffic), shares(ep.mirror_traffic)

    def create_deployment(self, endpoint: str, effect: CreateDeployment) -> None:
        check_deployment_name(effect.name)
        if effect.instance_count is not None and effect.instance_count < 1:
            raise InvalidInput(f"instance_count must be at least 1, got {effect.instance_count}")
        ml = self._ml()
        source = self._call(
            lambda: ml.online_deployments.get(effect.source, endpoint),
            f"get deployment {endpoint}/{effect.source}",
        )
        existing = self._deployment_or_none(endpoint, effect.name)
        state = provisioning_state(getattr(existing, "provisioning_state", None), "Unknown")
        ended_badly = state in PROVISION_FAILED
        if (
            existing is not None
            and same_model(existing.model, effect.model.asset_id)
            and not ended_badly  # a Failed or Canceled one is put again: Azure provisions anew
        ):
            log.info(
                "deployment %s/%s already has %s; nothing to do",
                endpoint,
                effect.name,
                effect.model.asset_id,
            )
            return
        deployment = clone_deployment(
            source,
            endpoint,
            effect,
            rest=read_rest(ml, endpoint, effect.source, self._call),
            ml=ml,
            call=self._call,
        )
        what = f"create deployment {endpoint}/{effect.name}"
        # The poller is dropped on purpose: its daemon thread polls until Azure finishes.
        self._call(
            lambda: ml.online_deployments.begin_create_or_update(
                deployment, skip_script_validation=True
            ),
            what,
        )
        log.info("%s: accepted (%s from %s)", what, effect.model.asset_id, effect.source)

    def set_traffic(
        self,
        endpoint: str,
        traffic: Mapping[str, int],
        mirror: Mapping[str, int],
        still_wanted: Callable[[], bool] | None = None,
    ) -> bool:
        traffic, mirror = dict(traffic), dict(mirror)
        # Every rule that does not need Azure's answer, before calling Azure at all.
        check_split(traffic, mirror, set(traffic) | set(mirror))
        return retry.until_free(
            lambda: self._set_traffic_once(endpoint, traffic, mirror, still_wanted),
            f"set traffic of {endpoint}",
            budget=self._busy_wait_s,
            sleep=self._sleep,
        )

    def _set_traffic_once(
        self,
        endpoint: str,
        traffic: dict[str, int],
        mirror: dict[str, int],
        still_wanted: Callable[[], bool] | None,
    ) -> bool:
        """Read the endpoint, and update it unless it already has the split (read again on
        each try: the operation Azure was busy with may have changed it, e.g. an alert's
        rollback, which is why ``still_wanted`` is asked again right before each send).
        Whether the split is live on return: already, or the update's poller done within
        ``traffic_wait_s``."""
        ml = self._ml()
        ep = self._call(lambda: ml.online_endpoints.get(endpoint), f"get endpoint {endpoint}")
        self._listing.changed(endpoint)
        names = {str(k) for k in (ep.traffic or {})} | {str(k) for k in (ep.mirror_traffic or {})}
        check_split(traffic, mirror, names)
        wanted = {k: v for k, v in traffic.items() if v > 0}
        wanted_mirror = {k: v for k, v in mirror.items() if v > 0}
        # compared whatever the letter case (folded): azure-ai-ml sends the keys lower-cased
        live = (folded(ep.traffic), folded(ep.mirror_traffic))
        if live == (folded(wanted), folded(wanted_mirror)):
            return True  # already so: no endpoint update (effects are re-issued every tick)
        what = f"set traffic of {endpoint} to {wanted} (mirror {wanted_mirror})"
        if still_wanted is not None and not still_wanted():
            raise Superseded(f"{what}: a newer decision replaced it; not sent")
        ep.traffic = wanted
        ep.mirror_traffic = wanted_mirror
        poller = self._call(lambda: ml.online_endpoints.begin_create_or_update(ep), what)
        wait_s = deadline.capped(self._traffic_wait_s)  # an alert's call answers in time
        if wait_s <= 0:
            return False
        try:
            # azure-core's LROPoller.wait re-raises what the polling thread met (a failed
            # operation is HttpResponseError), so done() after it means the update succeeded
            poller.wait(timeout=wait_s)
        except Exception as exc:
            raise map_error(exc, what) from exc
        if not poller.done():
            log.info("%s: still running after %.0f s", what, wait_s)
            return False
        self._until_shown(endpoint, wanted, wanted_mirror, what)
        return True

    def _until_shown(
        self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int], what: str
    ) -> None:
        """Read the endpoint until it shows the split its update, reported done, set: waiting
        at most ``traffic_wait_s`` in all, 0.5 s then twice as long each time (at most 5 s).
        Azure's endpoint reads can trail a traffic update for a while (azure-dev PR 3881: azd
        reads after UpdateTraffic until the endpoint shows the new split, 4 reads 10 s apart);
        a following delete of the deployment that lost its traffic checks the split as read.
        When it does not show in time the update still counts as landed (the engine takes the
        previous split, seen soon after, for this lag: shared.machine.traffic)."""
        waited, pause = 0.0, 0.5
        limit = deadline.capped(self._traffic_wait_s)
        while True:
            try:
                ep = self._endpoint_alone(endpoint)
            except (UpstreamError, NotFound) as exc:  # the update is done; its read-back failed
                log.info("%s: done; reading it back failed: %s", what, exc)
                return
            if (folded(ep.traffic), folded(ep.mirror_traffic)) == (folded(traffic), folded(mirror)):
                return
            if waited >= limit:
                log.info("%s: done, but reads did not show it within %.0f s", what, limit)
                return
            step = min(pause, limit - waited)
            self._sleep(step)
            waited, pause = waited + step, min(pause * 2, 5.0)

    def delete_deployment(self, endpoint: str, name: str) -> None:
        ep, deployments = self._read(endpoint)
        dep = next((d for d in deployments if str(d.name).lower() == name.lower()), None)
        if dep is None:
            return
        name = str(dep.name)
        check_delete(name, dict(ep.traffic or {}), dict(ep.mirror_traffic or {}))
        if provisioning_state(getattr(dep, "provisioning_state", None), "").lower() == "deleting":
            return
        ml = self._ml()
        self._listing.changed(endpoint)
        try:
            self._call(
                lambda: ml.online_deployments.begin_delete(name, endpoint),
                f"delete deployment {endpoint}/{name}",
            )
        except NotFound:
            return  # deleted meanwhile

    def scale_deployment(self, endpoint: str, name: str, instance_count: int) -> None:
        """The deployment as read, sent again with the new ``instance_count`` and nothing
        else changed (azure-ai-ml's way to scale: ``instance_count`` then
        ``begin_create_or_update``, learn.microsoft.com/azure/machine-learning/
        how-to-safely-rollout-online-endpoints, "Scale your existing deployment"). It goes
        through the clone, which keeps what the SDK loses on reading back (model mount path,
        millisecond request timeouts); the poller is not waited for."""
        if isinstance(instance_count, bool) or instance_count < 1:
            raise InvalidInput(f"instance_count must be at least 1, got {instance_count}")
        ml = self._ml()
        dep = self._call(
            lambda: ml.online_deployments.get(name, endpoint), f"get deployment {endpoint}/{name}"
        )
        state = provisioning_state(getattr(dep, "provisioning_state", None), "")
        if int_or_none(dep.instance_count) == instance_count and state.lower() == "succeeded":
            return
        if not dep.model:
            raise InvalidInput(f"deployment {endpoint}/{name} reads back without a model")
        rest = read_rest(ml, endpoint, name, self._call)
        # The model as read (a workspace model's ARM id, a registry's id: azure-ai-ml passes
        # either on unchanged), the tags as they were: only the count changes.
        scaled = copy_deployment(
            dep,
            endpoint,
            source_name=name,
            name=name,
            model=str(dep.model),
            instance_count=instance_count,
            tags={str(k): str(v) for k, v in (dep.tags or {}).items()},
            rest=rest,
            ml=ml,
            call=self._call,
        )
        what = f"scale deployment {endpoint}/{name} to {instance_count}"
        self._call(
            lambda: ml.online_deployments.begin_create_or_update(
                scaled, skip_script_validation=True
            ),
            what,
        )
        log.info("%s: accepted", what)

    def get_logs(self, endpoint: str, name: str, lines: int = 200) -> str:
        if isinstance(lines, bool) or not isinstance(lines, int) or lines < 1:
            raise InvalidInput(f"lines must be a whole number >= 1, got {lines!r}")
        ml = self._ml()

        def logs(container: str) -> str:
            text = self._call(
                lambda: ml.online_deployments.get_logs(
                    name, endpoint, lines, container_type=container
                ),
                f"get {container} logs of {endpoint}/{name}",
            )
            return str(text or "")

        # InferenceServer first (the scoring container); StorageInitializer when it is empty
        # (a model that could not even be downloaded fails there). The SDK takes its own
        # names for them and sends InferenceServer/StorageInitializer (azure-ai-ml
        # constants/_deployment.py EndpointDeploymentLogContainerType).
        text = logs("inference-server")
        if not text.strip():
            text = logs("storage-initializer")
        return "\n".join(text.splitlines()[-lines:])

    def provisioning_error(self, endpoint: str, name: str) -> OperationError | None:
        ml = self._ml()
        rest = read_rest(ml, endpoint, name, self._call)
        what = f"read the last operation of deployment {endpoint}/{name}"
        return read_operation_error(ml, rest, self._call, what)

    # ---------------------------------------------------------------- internals
    def _ml(self) -> Any:
        return self._client.get()

    def _build_client(self) -> Any:
        return build_ml_client(self._settings, self._credential, pacer=self._pacer)

    def _call(self, fn: Callable[[], T], what: str) -> T:
        return retry.call(fn, what, policy=self._retry, pacer=self._pacer)

    def _read(self, endpoint: str, listed_since: float | None = None) -> tuple[Any, list[Any]]:
        """The endpoint and its deployments: two ARM reads (with a listing: one, plus the
        listing's pages when it is taken again)."""
        ml = self._ml()
        ep = self._endpoint_entity(endpoint, listed_since)
        deployments = self._call(
            lambda: list(ml.online_deployments.list(endpoint)),
            f"list deployments of {endpoint}",
        )
        return ep, deployments

    def _endpoint_entity(self, endpoint: str, listed_since: float | None) -> Any:
        """The endpoint entity: from the listing of the workspace's endpoints (a tick's, or
        ``listing_ttl_s``'s), else from one GET."""
        if listed_since is None and self._listing.ttl_s <= 0:
            return self._endpoint_alone(endpoint)
        ml = self._ml()

        def listing() -> dict[str, Any]:
            items = self._call(
                lambda: list(ml.online_endpoints.list()), "list the workspace's online endpoints"
            )
            return {str(item.name): item for item in items}

        ep = self._listing.get(endpoint, listing, since=listed_since)
        if ep is None:
            raise NotFound(f"online endpoint {endpoint} not found", code="ResourceNotFound")
        return ep

    def _endpoint_alone(self, endpoint: str) -> Any:
        """The endpoint entity from one GET: the generated operation and conversion the SDK's
        ``online_endpoints.get`` uses, without its deployment list (azure-ai-ml
        operations/_online_endpoint_operations.py; the generated ``get`` returns
        ``cls(pipeline_response, deserialized, {})`` when given ``cls``)."""
        from azure.ai.ml.entities import OnlineEndpoint

        ops = self._ml().online_endpoints
        return self._call(
            lambda: ops._online_operation.get(
                resource_group_name=ops._resource_group_name,
                workspace_name=ops._workspace_name,
                endpoint_name=endpoint,
                cls=lambda _response, rest, _headers: OnlineEndpoint._from_rest_object(rest),
                **ops._init_kwargs,
            ),
            f"get endpoint {endpoint}",
        )

    def _deployment_or_none(self, endpoint: str, name: str) -> Any:
        ml = self._ml()
        try:
            return self._call(
                lambda: ml.online_deployments.get(name, endpoint),
                f"get deployment {endpoint}/{name}",
            )
        except NotFound:
            return None
