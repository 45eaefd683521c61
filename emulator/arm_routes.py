"""HTTP routes of the emulated ARM surface: the calls azure-ai-ml's MLClient makes.

Paths follow the ``Microsoft.MachineLearningServices`` REST API (azure-rest-api-specs
``specification/machinelearningservices/resource-manager``; the generated client in
azure-sdk-for-python ``sdk/ml/azure-ai-ml/azure/ai/ml/_restclient/arm_ml_service/operations/
_operations.py``). Every route checks, in this order, the bearer token, the api-version for the
resource type (:mod:`emulator.arm_versions`, unless turned off) and the subscription, resource
group and workspace; the resource state is :class:`emulator.arm_state.ArmState`. Errors are
answered in one style, :class:`emulator.errors.ArmError`.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.arm_assets import KINDS
from emulator.arm_model import (
    ASSET_NAME_RE,
    ReadBucket,
    json_body,
    json_response,
    now_iso,
    version_key,
)
from emulator.arm_state import ArmState
from emulator.arm_versions import check_api_version
from emulator.errors import ArmError, bad_request, not_found

Handler = Callable[[web.Request], Any]
READS_LEFT = "x-ms-ratelimit-remaining-subscription-reads"
DEFAULT_PAGE = 100  # items per page of a list when the caller gives no ``count``


def page_of(request: web.Request, items: list[Any]) -> dict[str, Any]:
    """One page of ``items`` (``count`` per page, from offset ``$skip``), with a ``nextLink``
    carrying the request's own query (api-version included) when more follow."""
    try:
        count = int(request.query.get("count", DEFAULT_PAGE))
        skip = int(request.query.get("$skip", "0"))
    except ValueError as exc:
        raise bad_request("count and $skip must be whole numbers") from exc
    if count < 1 or skip < 0:
        raise bad_request("count must be at least 1 and $skip not negative")
    body: dict[str, Any] = {"value": items[skip : skip + count]}
    if skip + count < len(items):
        body["nextLink"] = str(request.url.update_query({"$skip": str(skip + count)}))
    return body


def add_routes(app: web.Application, state: ArmState) -> None:
    ws = (
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices"
        "/workspaces/{ws}"
    )
    ops = "/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{loc}"
    size, refill = state.strict.arm_read_bucket, state.strict.arm_read_refill_per_s
    reads = ReadBucket(size, refill) if size > 0 and refill > 0 else None
    app["arm_reads"] = reads

    def check_scope(request: web.Request) -> None:
        ident = state.identity
        info = request.match_info
        if info.get("sub", ident.subscription).lower() != ident.subscription.lower():
            raise ArmError(
                404, "SubscriptionNotFound", f"subscription {info['sub']} was not found."
            )
        if info.get("rg", ident.resource_group).lower() != ident.resource_group.lower():
            raise ArmError(
                404, "ResourceGroupNotFound", f"resource group {info['rg']} was not found."
            )
        if info.get("ws", ident.workspace).lower() != ident.workspace.lower():
            raise ArmError(
                404,
                "ResourceNotFound",
                f"workspace {info['ws']} was not found in resource group {ident.resource_group}.",
            )

    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            async def wrapped(request: web.Request) -> web.StreamResponse:
                try:
                    if not request.headers.get("Authorization", "").lower().startswith("bearer "):
                        raise ArmError(
                            401,
                            "AuthenticationFailed",
                            "Authentication failed. The 'Authorization' header is missing.",
                        )
                    if state.strict.api_versions:
                        check_api_version(
                            request.path,
                            request.query.get("api-version"),
                            state.identity.location,
                        )
                    check_scope(request)
                    left = None
                    if request.method == "GET" and reads is not None:
                        allowed, left, wait = reads.take()
                        if not allowed and state.strict.arm_read_throttle:
                            throttled = ArmError(
                                429,
                                "TooManyRequests",
                                "The request is throttled: the subscription's read limit "
                                "is reached. Retry after the time in the Retry-After header.",
                            ).response()
                            throttled.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                            throttled.headers[READS_LEFT] = "0"
                            return throttled
                    result = fn(request)
                    if asyncio.iscoroutine(result):
                        result = await result
                    assert isinstance(result, web.StreamResponse)
                    if left is not None:
                        result.headers[READS_LEFT] = str(left)
                    return result
                except ArmError as exc:
                    return exc.response()

            app.router.add_route(method, path, wrapped)
            return fn

        return deco

    # Workspace
    @route("GET", ws)
    def get_workspace(request: web.Request) -> web.Response:
        return json_response(state.workspace_body())

    # Operation status and results
    @route("GET", ops + "/mfeOperationsStatus/{op}")
    def get_operation(request: web.Request) -> web.Response:
        op = state.operations.get(request.match_info["op"])
        if op is None:
            raise not_found("Operation", request.match_info["op"])
        headers = {"Retry-After": f"{state.retry_after:g}"} if op.status == "InProgress" else {}
        return json_response(op.body(state.identity.location), 200, headers)

    @route("GET", ops + "/mfeOperationResults/{op}")
    def get_operation_result(request: web.Request) -> web.Response:
        op = state.operations.get(request.match_info["op"])
        if op is None:
            raise not_found("Operation", request.match_info["op"])
        if op.status == "InProgress":
            return web.Response(
                status=202,
                headers={
                    "Retry-After": f"{state.retry_after:g}",
                    "Location": str(request.url),
                },
            )
        if op.status == "Failed":
            err = op.error or {"code": "Failed", "message": "the operation failed"}
            return json_response({"error": err}, 400)
        return web.Response(status=204)

    # Assets: models, environments, codes (containers and versions)
    for kind in KINDS:
        _add_asset_routes(route, state, ws, kind)

    # Online endpoints
    @route("GET", ws + "/onlineEndpoints")
    def list_endpoints(request: web.Request) -> web.Response:
        # OnlineEndpoints_List pages: ``count`` is "Number of endpoints to be retrieved in a
        # page of results", ``$skip`` the continuation token (azure-rest-api-specs
        # machinelearningservices OnlineEndpoints_List). Azure's default page size is not
        # documented; this one is DEFAULT_PAGE.
        items = [state.endpoint_body(e) for e in state.endpoints.values()]
        return json_response(page_of(request, items))

    @route("GET", ws + "/onlineEndpoints/{ep}")
    def get_endpoint(request: web.Request) -> web.Response:
        return json_response(state.endpoint_body(state.get_endpoint(request.match_info["ep"])))

    @route("PUT", ws + "/onlineEndpoints/{ep}")
    async def put_endpoint(request: web.Request) -> web.Response:
        return await state.put_endpoint(request, request.match_info["ep"])

    @route("PATCH", ws + "/onlineEndpoints/{ep}")
    async def patch_endpoint(request: web.Request) -> web.Response:
        ep = state.get_endpoint(request.match_info["ep"])
        body = await json_body(request)
        if "tags" in body:
            ep.tags = dict(body["tags"] or {})
        ep.modified = now_iso()
        return json_response(state.endpoint_body(ep))

    @route("DELETE", ws + "/onlineEndpoints/{ep}")
    async def delete_endpoint(request: web.Request) -> web.Response:
        return await state.delete_endpoint(request, request.match_info["ep"])

    @route("POST", ws + "/onlineEndpoints/{ep}/listKeys")
    def list_keys(request: web.Request) -> web.Response:
        ep = state.get_endpoint(request.match_info["ep"])
        return json_response(ep.keys)

    @route("POST", ws + "/onlineEndpoints/{ep}/regenerateKeys")
    async def regenerate_keys(request: web.Request) -> web.Response:
        ep = state.get_endpoint(request.match_info["ep"])
        body = await json_body(request)
        key_type = str(body.get("keyType") or "")
        if key_type.lower() not in ("primary", "secondary"):
            raise bad_request("keyType must be Primary or Secondary")
        slot = f"{key_type.lower()}Key"
        # MLClient sends the current key as keyValue and expects a new key: a keyValue equal
        # to the current key (or none) regenerates; a different one sets that value.
        value = body.get("keyValue")
        if not value or value == ep.keys[slot]:
            value = secrets.token_urlsafe(24)
        ep.keys[slot] = str(value)
        op = state.new_operation()
        op.finish()
        return web.Response(status=202, headers=state.lro_headers(request, op, True))

    @route("POST", ws + "/onlineEndpoints/{ep}/token")
    def get_token(request: web.Request) -> web.Response:
        state.get_endpoint(request.match_info["ep"])
        now = int(time.time())
        return json_response(
            {
                "accessToken": secrets.token_urlsafe(32),
                "tokenType": "Bearer",
                "expiryTimeUtc": now + 3600,
                "refreshAfterTimeUtc": now + 1800,
            }
        )

    # Deployments
    @route("GET", ws + "/onlineEndpoints/{ep}/deployments")
    def list_deployments(request: web.Request) -> web.Response:
        items = [
            state.deployment_body(d) for d in state.listed_deployments(request.match_info["ep"])
        ]
        return json_response({"value": items})

    @route("GET", ws + "/onlineEndpoints/{ep}/deployments/{dep}")
    def get_deployment(request: web.Request) -> web.Response:
        info = request.match_info
        return json_response(state.deployment_body(state.get_deployment(info["ep"], info["dep"])))

    @route("PUT", ws + "/onlineEndpoints/{ep}/deployments/{dep}")
    async def put_deployment(request: web.Request) -> web.Response:
        info = request.match_info
        return await state.put_deployment(request, info["ep"], info["dep"])

    @route("DELETE", ws + "/onlineEndpoints/{ep}/deployments/{dep}")
    async def delete_deployment(request: web.Request) -> web.Response:
        info = request.match_info
        return await state.delete_deployment(request, info["ep"], info["dep"])

    @route("POST", ws + "/onlineEndpoints/{ep}/deployments/{dep}/getLogs")
    async def get_logs(request: web.Request) -> web.Response:
        info = request.match_info
        dep = state.get_deployment(info["ep"], info["dep"])
        body = await json_body(request)
        container = str(body.get("containerType") or "InferenceServer")
        if container not in ("InferenceServer", "StorageInitializer"):
            raise bad_request("containerType must be InferenceServer or StorageInitializer")
        tail = body.get("tail")
        if tail is not None and (not isinstance(tail, int) or tail < 0):
            raise bad_request("tail must be a non-negative integer")
        content = dep.runtime.tail(int(tail or 0), container) if dep.runtime else ""
        if dep.failure and container == "InferenceServer" and dep.failure not in content:
            content += f"Deployment failed: {dep.failure}\n"
        return json_response({"content": content})

    @route("GET", ws + "/onlineEndpoints/{ep}/deployments/{dep}/skus")
    def list_skus(request: web.Request) -> web.Response:
        state.get_deployment(request.match_info["ep"], request.match_info["dep"])
        return json_response({"value": []})


def _add_asset_routes(
    route: Callable[[str, str], Callable[[Handler], Handler]], state: ArmState, ws: str, kind: str
) -> None:
    base = f"{ws}/{kind}"

    @route("GET", base)
    def list_containers(request: web.Request) -> web.Response:
        store = state.assets.store(kind)
        return json_response(
            {"value": [state.assets.container_body(kind, n) for n in sorted(store)]}
        )

    @route("GET", base + "/{name}")
    def get_container(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in state.assets.store(kind):
            raise not_found("Asset container", f"{kind}/{name}")
        return json_response(state.assets.container_body(kind, name))

    @route("PUT", base + "/{name}")
    async def put_container(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not ASSET_NAME_RE.match(name):
            raise bad_request(f"invalid asset name {name!r}")
        await json_body(request)
        state.assets.store(kind).setdefault(name, {})
        return json_response(state.assets.container_body(kind, name))

    @route("GET", base + "/{name}/versions")
    def list_versions(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        versions = state.assets.store(kind).get(name, {})
        items = [
            state.assets.asset_body(kind, versions[v])
            for v in sorted(versions, key=version_key, reverse=True)
        ]
        return json_response({"value": items})

    @route("GET", base + "/{name}/versions/{version}")
    def get_version(request: web.Request) -> web.Response:
        info = request.match_info
        return json_response(
            state.assets.asset_body(
                kind, state.assets.get_asset(kind, info["name"], info["version"])
            )
        )

    @route("PUT", base + "/{name}/versions/{version}")
    async def put_version(request: web.Request) -> web.Response:
        info = request.match_info
        body = await json_body(request)
        asset, created = state.assets.put_asset(kind, info["name"], info["version"], body)
        return json_response(state.assets.asset_body(kind, asset), 201 if created else 200)
