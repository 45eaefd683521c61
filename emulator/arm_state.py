"""The emulated workspace's resources and their provisioning (no HTTP routing here).

Long-running operations follow the ARM async pattern: PUT answers 201 with
``Azure-AsyncOperation`` (and ``Retry-After``), DELETE and POST actions answer 202 with
``Location`` and ``Azure-AsyncOperation``; the operation status resource reports
``InProgress``/``Succeeded``/``Failed`` (and an ``error`` when failed). The strict behaviours
(:class:`~emulator.arm_model.Strictness`) are applied here.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator import arm_deployments
from emulator.arm_assets import AssetStore
from emulator.arm_lro import Operation, Operations
from emulator.arm_model import (
    BUSY_STATES,
    NAME_RE,
    PROVIDER,
    Asset,
    Deployment,
    Endpoint,
    Strictness,
    int_map,
    json_body,
    json_response,
    now_iso,
    system_data,
    workspace_body,
)
from emulator.arm_provision import ProvisioningFault, provision
from emulator.context import Context
from emulator.errors import ArmError, bad_request, conflict, not_found, operation_conflict
from emulator.runtime import WorkerSpec


class ArmState:
    """Resources of the emulated workspace and their provisioning."""

    def __init__(
        self,
        ctx: Context,
        provisioning_delay: float = 0.5,
        retry_after: float = 0.25,
        on_model_registered: Callable[[Asset], None] | None = None,
        strict: Strictness | None = None,
    ) -> None:
        self.ctx = ctx
        self.provisioning_delay = provisioning_delay
        self.retry_after = retry_after
        self.strict = strict or Strictness()
        self.assets = AssetStore(ctx, on_model_registered)
        self.endpoints: dict[str, Endpoint] = {}
        self.deployments: dict[tuple[str, str], Deployment] = {}
        self.lro = Operations(ctx.identity)
        self.operations = self.lro.operations
        self.provisioning_faults: dict[tuple[str, str], ProvisioningFault] = {}
        self.scoring_base = ""
        self.arm_base = ""

    # -- EndpointDirectory (for the add-ons) and asset shortcuts -------------------------------

    def endpoint_names(self) -> list[str]:
        return sorted(self.endpoints)

    def deployment_names(self, endpoint: str) -> list[str]:
        return sorted(d for (e, d) in self.deployments if e == endpoint.lower())

    @property
    def models(self) -> dict[str, dict[str, Asset]]:
        return self.assets.store("models")

    @property
    def codes(self) -> dict[str, dict[str, Asset]]:
        return self.assets.store("codes")

    def put_asset(self, kind: str, name: str, version: str, body: Any) -> tuple[Asset, bool]:
        return self.assets.put_asset(kind, name, version, body)

    def asset_body(self, kind: str, asset: Asset) -> dict[str, Any]:
        return self.assets.asset_body(kind, asset)

    # -- helpers ------------------------------------------------------------------------------

    @property
    def identity(self) -> Any:
        return self.ctx.identity

    def spawn(self, coro: Any) -> None:
        self.lro.spawn(coro)

    def new_operation(self) -> Operation:
        return self.lro.new()

    def lro_headers(self, request: web.Request, op: Operation, location: bool) -> dict[str, str]:
        return self.lro.headers(request, op, location, self.arm_base, self.retry_after)

    def workspace_body(self) -> dict[str, Any]:
        return workspace_body(self.identity, self.arm_base)

    # -- endpoints ----------------------------------------------------------------------------

    def scoring_uri(self, name: str) -> str:
        return f"{self.scoring_base}{name}/score"

    def endpoint_body(self, ep: Endpoint) -> dict[str, Any]:
        props = dict(ep.properties)
        traffic, mirror = self.shown_split(ep)
        props["traffic"] = traffic
        props["mirrorTraffic"] = mirror
        props["provisioningState"] = ep.state
        props["scoringUri"] = self.scoring_uri(ep.name)
        props["swaggerUri"] = f"{self.scoring_base}{ep.name}/swagger.json"
        props.setdefault("authMode", "Key")
        props.setdefault("publicNetworkAccess", "Enabled")
        props.pop("keys", None)
        body: dict[str, Any] = {
            "id": self.identity.endpoint_id(ep.name),
            "name": ep.name,
            "type": f"{PROVIDER}/workspaces/onlineEndpoints",
            "location": ep.location,
            "tags": ep.tags,
            "kind": "Managed",
            "properties": props,
            "systemData": system_data(ep.created, ep.modified),
        }
        if ep.identity is not None:
            body["identity"] = ep.identity
        return body

    def shown_split(self, ep: Endpoint) -> tuple[dict[str, int], dict[str, int]]:
        """The traffic and mirror traffic a read of ``ep`` shows: the split before its last
        traffic update while that update's read lag lasts (Strictness.traffic_read_lag)."""
        if ep.shown_split is not None and time.monotonic() < ep.shown_until:
            return dict(ep.shown_split[0]), dict(ep.shown_split[1])
        return ep.traffic, ep.mirror_traffic

    def get_endpoint(self, name: str) -> Endpoint:
        ep = self.endpoints.get(name.lower())
        if ep is None:
            raise not_found("Online endpoint", name)
        return ep

    def validate_traffic(
        self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int]
    ) -> None:
        """Azure's traffic rules; raises a 400 ArmError when one is broken."""
        arm_deployments.check_traffic(
            endpoint, set(self.deployment_names(endpoint)), traffic, mirror
        )

    async def put_endpoint(self, request: web.Request, name: str) -> web.Response:
        body = await json_body(request)
        if not NAME_RE.match(name):
            raise bad_request(
                f"invalid endpoint name {name!r}: 3-32 characters, a letter first, then "
                "letters, digits or hyphens, ending with a letter or digit",
                "InvalidEndpointName",
            )
        props = body.get("properties")
        if not isinstance(props, dict):
            raise bad_request("properties is required")
        auth = str(props.get("authMode") or "Key")
        if auth.lower() not in ("key", "amltoken", "aadtoken"):
            raise bad_request(f"unknown authMode {auth!r}")
        traffic = int_map(props.get("traffic"), "traffic")
        mirror = int_map(props.get("mirrorTraffic"), "mirrorTraffic")
        key = name.lower()
        ep = self.endpoints.get(key)
        if ep is not None and ep.busy:
            raise operation_conflict(self.identity.workspace)
        if ep is not None and ep.state == "Deleting":
            raise conflict(f"endpoint {name} is being deleted")
        self.validate_traffic(key, traffic, mirror)
        skip = ("traffic", "mirrorTraffic", "provisioningState", "scoringUri", "keys")
        new_props = {k: v for k, v in props.items() if k not in skip}
        new_props["authMode"] = auth
        op = self.new_operation()
        if ep is None:
            keys_in = props.get("keys") or {}
            ep = Endpoint(
                name=key,
                location=str(body.get("location") or self.identity.location),
                tags=dict(body.get("tags") or {}),
                identity=body.get("identity") or {"type": "SystemAssigned"},
                properties={**new_props, "traffic": {}, "mirrorTraffic": {}},
                keys={
                    "primaryKey": keys_in.get("primaryKey") or secrets.token_urlsafe(24),
                    "secondaryKey": keys_in.get("secondaryKey") or secrets.token_urlsafe(24),
                },
                state="Creating",
            )
            self.endpoints[key] = ep
        else:
            ep.tags = dict(body.get("tags") or ep.tags)
            if body.get("identity"):
                ep.identity = body["identity"]
            ep.properties = {**new_props, "traffic": ep.traffic, "mirrorTraffic": ep.mirror_traffic}
            ep.state = "Updating"
        ep.busy = True
        ep.modified = now_iso()
        self.spawn(self._finish_endpoint(ep, op, traffic, mirror))
        # ARM async PUT: 201 with Azure-AsyncOperation for creates and updates alike.
        return json_response(self.endpoint_body(ep), 201, self.lro_headers(request, op, False))

    async def _finish_endpoint(
        self, ep: Endpoint, op: Operation, traffic: dict[str, int], mirror: dict[str, int]
    ) -> None:
        try:
            await asyncio.sleep(self.provisioning_delay)
            fault = self.provisioning_faults.pop((ep.name, ""), None)
            if fault is not None:  # the split stays as it was
                ep.state = fault.state
                op.finish(fault.error(), fault.state)
                return
            # The deployments may have changed while the update was in flight.
            try:
                self.validate_traffic(ep.name, traffic, mirror)
            except ArmError as exc:
                ep.state = "Failed"
                op.finish({"code": exc.code, "message": exc.message})
                return
            before = self.shown_split(ep)
            ep.properties["traffic"] = {k: v for k, v in traffic.items() if v > 0}
            ep.properties["mirrorTraffic"] = {k: v for k, v in mirror.items() if v > 0}
            if self.strict.traffic_read_lag > 0 and before != (ep.traffic, ep.mirror_traffic):
                ep.shown_split = before
                ep.shown_until = time.monotonic() + self.strict.traffic_read_lag
            ep.state = "Succeeded"
            ep.modified = now_iso()
            op.finish()
        finally:
            ep.busy = False

    async def delete_endpoint(self, request: web.Request, name: str) -> web.Response:
        ep = self.endpoints.get(name.lower())
        if ep is None:
            return web.Response(status=204)
        if ep.busy:
            raise operation_conflict(self.identity.workspace)
        op = self.new_operation()
        ep.state = "Deleting"
        ep.busy = True
        self.spawn(self._delete_endpoint(ep, op))
        return web.Response(status=202, headers=self.lro_headers(request, op, True))

    async def _delete_endpoint(self, ep: Endpoint, op: Operation) -> None:
        await asyncio.sleep(self.provisioning_delay)
        for key in [k for k in self.deployments if k[0] == ep.name]:
            dep = self.deployments.pop(key)
            if dep.runtime is not None:
                await dep.runtime.stop()
        self.endpoints.pop(ep.name, None)
        op.finish()

    # -- deployments --------------------------------------------------------------------------

    def deployment_body(self, dep: Deployment) -> dict[str, Any]:
        return arm_deployments.deployment_body(dep, self.identity)

    def visible(self, dep: Deployment) -> bool:
        """Whether reads see the deployment: a new one answers 404 for a short while after
        its create was accepted (Strictness.hidden_after_create)."""
        return not (dep.state == "Creating" and time.monotonic() < dep.hidden_until)

    def listed_deployments(self, endpoint: str) -> list[Deployment]:
        ep = self.get_endpoint(endpoint)
        return [d for (e, _), d in self.deployments.items() if e == ep.name and self.visible(d)]

    def get_deployment(self, endpoint: str, name: str) -> Deployment:
        self.get_endpoint(endpoint)
        dep = self.deployments.get((endpoint.lower(), name.lower()))
        if dep is None or not self.visible(dep):
            raise not_found("Online deployment", f"{endpoint}/{name}")
        return dep

    def _refuse_while_busy(self, ep: Endpoint, name: str, dep: Deployment | None) -> None:
        if ep.state == "Deleting":
            raise conflict(f"endpoint {ep.name} is being deleted")
        if dep is not None and (dep.busy or dep.state in BUSY_STATES):
            raise conflict(
                f"Cannot update deployment {name} because it is in {dep.state} provisioning state."
            )
        if self.strict.busy_conflicts and (ep.busy or ep.state in BUSY_STATES):
            verb = "create a" if dep is None else "update the"
            raise conflict(
                f"Cannot {verb} deployment in endpoint {ep.name} because it is in "
                f"{ep.state} provisioning state."
            )

    async def put_deployment(self, request: web.Request, endpoint: str, name: str) -> web.Response:
        body = await json_body(request)
        ep = self.get_endpoint(endpoint)
        if not NAME_RE.match(name):
            raise bad_request(
                f"invalid deployment name {name!r}: 3-32 characters, a letter first, then "
                "letters, digits or hyphens, ending with a letter or digit",
                "InvalidDeploymentName",
            )
        props = body.get("properties")
        if not isinstance(props, dict):
            raise bad_request("properties is required")
        stored = arm_deployments.validate(props, body, self.assets)
        sku = arm_deployments.sku_of(body)
        spec, model_path = arm_deployments.worker_spec(props, self.assets)
        key = (ep.name, name.lower())
        dep = self.deployments.get(key)
        self._refuse_while_busy(ep, name, dep)
        limit = self.strict.max_deployments
        if dep is None and limit is not None and len(self.deployment_names(ep.name)) >= limit:
            raise bad_request(
                f"endpoint {ep.name} already has {limit} deployments, the most an endpoint "
                "can have; delete one before creating another",
                "QuotaExceeded",
            )
        if dep is None:
            dep = Deployment(
                endpoint=ep.name,
                name=name.lower(),
                location=str(body.get("location") or ep.location),
                tags=dict(body.get("tags") or {}),
                kind=str(body.get("kind") or "Managed"),
                sku=sku,
                properties=stored,
                state="Creating",
                hidden_until=time.monotonic() + self.strict.hidden_after_create,
            )
            self.deployments[key] = dep
        else:
            dep.tags = dict(body.get("tags") or dep.tags)
            dep.sku = sku
            dep.properties = stored
            dep.state = "Updating"
        op = self._start_provisioning(dep, spec, model_path)
        headers = self.lro_headers(request, op, False)
        # Azure ML keeps the status URL of a deployment's last operation in its free-form
        # properties, over whatever the request sent (``az ml online-deployment show``:
        # "properties": {"AzureAsyncOperationUri": ".../mfeOperationsStatus/odidp:..."},
        # ansible-collections/azure azure_rm_ml_online_deployment.py RETURN sample)
        extra = dict(dep.properties.get("properties") or {})
        extra["AzureAsyncOperationUri"] = headers["Azure-AsyncOperation"]
        dep.properties["properties"] = extra
        return json_response(self.deployment_body(dep), 201, headers)

    def rescale(self, dep: Deployment, count: int) -> bool:
        """The autoscale job's scale of ``dep`` to ``count`` instances: ``Scaling`` until they
        run (see :mod:`emulator.autoscale_engine`); False if it is busy or its spec is gone."""
        if dep.busy or dep.state != "Succeeded" or count < 1:
            return False
        try:
            spec, model_path = arm_deployments.worker_spec(dep.properties, self.assets)
        except ArmError:
            return False
        dep.sku = {**dep.sku, "capacity": count}
        dep.state = "Scaling"
        self._start_provisioning(dep, spec, model_path)
        return True

    def _start_provisioning(self, dep: Deployment, spec: WorkerSpec, model_path: Path) -> Operation:
        """Bring ``dep`` (Creating, Updating or Scaling) up in the background; its operation."""
        dep.busy = True
        dep.failure = ""
        dep.modified = now_iso()
        op = self.new_operation()
        self.spawn(self._provision(dep, op, spec, model_path))
        return op

    async def _provision(
        self, dep: Deployment, op: Operation, spec: WorkerSpec, model_path: Path
    ) -> None:
        await provision(self, dep, op, spec, model_path)

    async def delete_deployment(
        self, request: web.Request, endpoint: str, name: str
    ) -> web.Response:
        ep = self.get_endpoint(endpoint)
        dep = self.deployments.get((ep.name, name.lower()))
        if dep is None:
            return web.Response(status=204)
        if ep.traffic.get(dep.name, 0) > 0 or ep.mirror_traffic.get(dep.name, 0) > 0:
            raise bad_request(
                f"deployment {dep.name} still receives traffic in endpoint {ep.name}; set its "
                "traffic (and mirror traffic) to 0 before deleting it",
                "DeploymentHasTraffic",
            )
        if dep.busy:
            raise conflict(f"an operation is already in progress on deployment {name}")
        op = self.new_operation()
        dep.state = "Deleting"
        dep.busy = True
        self.spawn(self._delete_deployment(dep, op))
        return web.Response(status=202, headers=self.lro_headers(request, op, True))

    async def _delete_deployment(self, dep: Deployment, op: Operation) -> None:
        await asyncio.sleep(self.provisioning_delay)
        if dep.runtime is not None:
            await dep.runtime.stop()
        self.deployments.pop((dep.endpoint, dep.name), None)
        op.finish()

    async def stop_all(self) -> None:
        self.lro.cancel_all()
        for dep in list(self.deployments.values()):
            if dep.runtime is not None:
                with contextlib.suppress(Exception):
                    await dep.runtime.stop()
