"""Azure Monitor autoscale settings (``Microsoft.Insights/autoscalesettings``) over ARM.

Shapes from azure-rest-api-specs ``specification/monitor/resource-manager/Microsoft.Insights/
stable/2022-10-01/autoscale_API.json`` (the api-version azure-mgmt-monitor 7.0 sends for
``MonitorManagementClient.autoscale_settings``):

- ``PUT|GET|DELETE /subscriptions/{s}/resourcegroups/{rg}/providers/Microsoft.Insights/
  autoscalesettings/{name}`` (AutoscaleSettings_CreateOrUpdate 200/201, _Get 200, _Delete
  200/204), ``GET .../resourcegroups/{rg}/providers/Microsoft.Insights/autoscalesettings``
  (_ListByResourceGroup) and ``GET /subscriptions/{s}/providers/Microsoft.Insights/
  autoscalesettings`` (_ListBySubscription): ``{"value": [...]}`` (``nextLink`` when paged).
  The SDK spells ``resourcegroups`` in lower case; ARM paths are case-insensitive, so both
  spellings are served.
- ``AutoscaleSettingResource``: ``location`` and ``properties`` required; ``tags``;
  ``properties`` (``AutoscaleSetting``): ``profiles`` (required, at most 20), each with
  ``name``, ``capacity`` {``minimum``, ``maximum``, ``default``} (instance counts as strings)
  and ``rules`` (required, at most 10), optional ``fixedDate``/``recurrence``;
  ``notifications``; ``enabled`` (default true); ``name``; ``targetResourceUri``;
  ``targetResourceLocation``; ``predictiveAutoscalePolicy``.
- Azure ML online deployments are autoscaled through these settings with the deployment's
  ARM id as ``targetResourceUri`` (learn.microsoft.com/azure/machine-learning/
  how-to-autoscale-endpoints); here the target must be a deployment of the emulated
  workspace. Deleting a deployment leaves its setting behind, as in Azure: it is a resource of
  its own.

Rules are checked against the spec's ``ScaleRule`` (required fields and enums) and applied to
the target by :mod:`emulator.autoscale_engine` (which the app starts beside these routes), as
Azure's autoscale job does. Error codes
for a body that breaks the spec's rules are the emulator's own (400 with the offending field
named).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.arm_model import json_body, json_response, now_iso, system_data
from emulator.autoscale_rules import RuleError, parse_scale_rule
from emulator.errors import ArmError

if TYPE_CHECKING:
    from emulator.arm_state import ArmState

API_VERSIONS = ("2015-04-01", "2021-05-01-preview", "2022-10-01")
RTYPE = "Microsoft.Insights/autoscaleSettings"
MAX_PROFILES = 20
MAX_RULES = 10
_NAME = re.compile(r"^[^<>%&:\\?/#]{1,260}$")
_DEPLOYMENT_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/onlineEndpoints/"
    r"(?P<ep>[^/]+)/deployments/(?P<dep>[^/]+)$",
    re.IGNORECASE,
)


@dataclass
class Setting:
    name: str
    location: str
    tags: dict[str, str]
    properties: dict[str, Any]
    created: str
    modified: str


def _bad(field: str, message: str) -> ArmError:
    return ArmError(
        400, "BadRequest", f"{field}: {message}", [{"code": "BadRequest", "target": field}]
    )


def _count(value: Any, where: str) -> int:
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    if not text.isdigit():
        raise _bad(where, f"must be a whole number of instances, got {value!r}")
    return int(text)


def validate(body: dict[str, Any], name: str, state: ArmState) -> tuple[str, dict[str, Any]]:
    """The stored properties of a PUT body (and its location), or an ArmError naming the
    field that breaks the spec."""
    location = body.get("location")
    if not isinstance(location, str) or not location:
        raise _bad("location", "is required")
    props = body.get("properties")
    if not isinstance(props, dict):
        raise _bad("properties", "is required")
    profiles = props.get("profiles")
    if not isinstance(profiles, list):
        raise _bad("properties.profiles", "is required")
    if len(profiles) > MAX_PROFILES:
        raise _bad("properties.profiles", f"at most {MAX_PROFILES} profiles can be specified")
    for i, prof in enumerate(profiles):
        where = f"properties.profiles[{i}]"
        if not isinstance(prof, dict) or not isinstance(prof.get("name"), str):
            raise _bad(f"{where}.name", "is required")
        cap = prof.get("capacity")
        if not isinstance(cap, dict):
            raise _bad(f"{where}.capacity", "is required")
        lo, hi, default = (
            _count(cap.get(k), f"{where}.capacity.{k}") for k in ("minimum", "maximum", "default")
        )
        if not lo <= hi:
            raise _bad(f"{where}.capacity", "minimum must not exceed maximum")
        if not lo <= default <= hi:
            raise _bad(f"{where}.capacity.default", "must be between minimum and maximum")
        rules = prof.get("rules")
        if not isinstance(rules, list):
            raise _bad(f"{where}.rules", "is required")
        if len(rules) > MAX_RULES:
            raise _bad(f"{where}.rules", f"at most {MAX_RULES} rules can be specified")
        for j, rule in enumerate(rules):
            try:
                parse_scale_rule(rule, f"{where}.rules[{j}]")
            except RuleError as exc:
                raise _bad(exc.field, exc.reason) from None
    enabled = props.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _bad("properties.enabled", "must be true or false")
    target = props.get("targetResourceUri")
    if not isinstance(target, str) or not target:
        raise _bad("properties.targetResourceUri", "is required")
    _check_target(target, state)
    stored = {k: v for k, v in props.items() if v is not None}
    stored.update(name=name, enabled=enabled, targetResourceUri=target)
    stored.setdefault("notifications", [])
    stored.setdefault("targetResourceLocation", location)
    return location, stored


def _check_target(target: str, state: ArmState) -> None:
    m = _DEPLOYMENT_ID.match(target)
    ident = state.identity
    deployments = {(e.lower(), d.lower()) for e, d in state.deployments}
    if (
        m is None
        or m["sub"].lower() != ident.subscription.lower()
        or m["rg"].lower() != ident.resource_group.lower()
        or m["ws"].lower() != ident.workspace.lower()
        or (m["ep"].lower(), m["dep"].lower()) not in deployments
    ):
        raise ArmError(
            400,
            "TargetResourceNotFound",
            f"The target resource {target!r} was not found: an autoscale setting targets an "
            "existing online deployment of this workspace.",
        )


class AutoscaleState:
    """The settings of the emulated resource group, by lower-case name."""

    def __init__(self, arm: ArmState) -> None:
        self.arm = arm
        self.settings: dict[str, Setting] = {}

    def body(self, s: Setting) -> dict[str, Any]:
        ident = self.arm.identity
        return {
            "id": (
                f"/subscriptions/{ident.subscription}/resourceGroups/{ident.resource_group}"
                f"/providers/microsoft.insights/autoscalesettings/{s.name}"
            ),
            "name": s.name,
            "type": RTYPE,
            "location": s.location,
            "tags": dict(s.tags),
            "properties": dict(s.properties),
            "systemData": system_data(s.created, s.modified),
        }

    def put(self, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        location, props = validate(body, name, self.arm)
        tags = body.get("tags") or {}
        if not isinstance(tags, dict) or len(tags) > 15:
            raise _bad("tags", "at most 15 tags, each a string")
        key = name.lower()
        old = self.settings.get(key)
        old_target = str(old.properties.get("targetResourceUri", "")) if old else ""
        new_target = str(props.get("targetResourceUri", ""))
        if old is not None and old_target.lower() != new_target.lower():
            # a setting's target cannot change: Azure answers TargetResourceIdIsImmutable and
            # says to create a new setting with another name (Azure/vm-scale-sets issue 4,
            # MicrosoftDocs/azure-docs issue 28175); the message here is ours
            raise ArmError(
                400,
                "TargetResourceIdIsImmutable",
                f"The target resource id of autoscale setting '{old.name}' cannot be changed "
                f"from '{old_target}' to '{new_target}': create a new autoscale setting with a "
                "different name.",
                [],
            )
        now = now_iso()
        self.settings[key] = Setting(
            old.name if old else name,
            old.location if old else location,
            {str(k): str(v) for k, v in tags.items()},
            props,
            old.created if old else now,
            now,
        )
        return self.body(self.settings[key]), 200 if old else 201

    def target_of(self, s: Setting) -> tuple[str, str] | None:
        """The key of the deployment ``s`` targets in the ARM state (None: it is gone)."""
        m = _DEPLOYMENT_ID.match(str(s.properties.get("targetResourceUri", "")))
        if m is None:
            return None
        want = (m["ep"].lower(), m["dep"].lower())
        return next((k for k in self.arm.deployments if (k[0].lower(), k[1].lower()) == want), None)

    def targeting(self, endpoint: str, deployment: str) -> list[Setting]:
        """Settings whose target is the deployment (for the emulator's own views)."""
        out = []
        for s in self.settings.values():
            m = _DEPLOYMENT_ID.match(str(s.properties.get("targetResourceUri", "")))
            if m and (m["ep"].lower(), m["dep"].lower()) == (endpoint.lower(), deployment.lower()):
                out.append(s)
        return out


def add_routes(app: web.Application, arm: ArmState) -> AutoscaleState:
    state = AutoscaleState(arm)
    provider = "/providers/Microsoft.Insights/autoscalesettings"
    prefixes = (
        "/subscriptions/{sub}/resourcegroups/{rg}",
        "/subscriptions/{sub}/resourceGroups/{rg}",
    )
    Handler = Callable[[web.Request], Any]

    def route(method: str, path: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            async def wrapped(request: web.Request) -> web.StreamResponse:
                try:
                    _check(request, arm)
                    result = fn(request)
                    if asyncio.iscoroutine(result):
                        result = await result
                    assert isinstance(result, web.StreamResponse)
                    return result
                except ArmError as exc:
                    return exc.response()

            app.router.add_route(method, path, wrapped)
            return fn

        return deco

    for prefix in prefixes:

        @route("GET", prefix + provider)
        def list_group(request: web.Request) -> web.Response:
            return json_response({"value": [state.body(s) for s in state.settings.values()]})

        @route("GET", prefix + provider + "/{name}")
        def get_setting(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            s = state.settings.get(name.lower())
            if s is None:
                raise ArmError(
                    404, "ResourceNotFound", f"The autoscale setting {name!r} was not found."
                )
            return json_response(state.body(s))

        @route("PUT", prefix + provider + "/{name}")
        async def put_setting(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            if not _NAME.match(name):
                raise _bad("autoscaleSettingName", f"invalid name {name!r}")
            body, status = state.put(name, await json_body(request))
            return json_response(body, status)

        @route("DELETE", prefix + provider + "/{name}")
        def delete_setting(request: web.Request) -> web.Response:
            gone = state.settings.pop(request.match_info["name"].lower(), None)
            return web.Response(status=200 if gone else 204)

    @route("GET", "/subscriptions/{sub}" + provider)
    def list_subscription(request: web.Request) -> web.Response:
        return json_response({"value": [state.body(s) for s in state.settings.values()]})

    return state


def _check(request: web.Request, arm: ArmState) -> None:
    """Bearer token, api-version, subscription and resource group, as ARM answers them."""
    if not request.headers.get("Authorization", "").lower().startswith("bearer "):
        raise ArmError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    version = request.query.get("api-version")
    if not version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if version not in API_VERSIONS:
        raise ArmError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{arm.identity.location}' "
            f"and API version '{version}' for type 'autoscalesettings'. The supported "
            f"api-versions are '{', '.join(reversed(API_VERSIONS))}'.",
        )
    ident, info = arm.identity, request.match_info
    if info["sub"].lower() != ident.subscription.lower():
        raise ArmError(404, "SubscriptionNotFound", f"subscription {info['sub']} was not found.")
    if info.get("rg", ident.resource_group).lower() != ident.resource_group.lower():
        raise ArmError(404, "ResourceGroupNotFound", f"resource group {info['rg']} was not found.")
