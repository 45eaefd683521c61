"""Resources of the emulated workspace (values only) and the small helpers they share.

Property names follow the ``Microsoft.MachineLearningServices`` REST API
(azure-rest-api-specs ``specification/machinelearningservices/resource-manager``, ``mfe.json``
of each api-version; the generated models in azure-ai-ml ``_restclient/arm_ml_service/models``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulator.errors import bad_request
from emulator.runtime import DeploymentRuntime

PROVIDER = "Microsoft.MachineLearningServices"
# Deployment and endpoint names: 3-32 characters, a letter first, letters/digits/hyphens, an
# alphanumeric last (Azure ML naming rules for online endpoints and deployments).
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
ASSET_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Azure ML quota "deployments per endpoint": 20 (learn.microsoft.com/azure/machine-learning/
# how-to-manage-quotas, "Azure Machine Learning online endpoints and batch endpoints").
MAX_DEPLOYMENTS_PER_ENDPOINT = 20
ARM_READ_BUCKET = 250  # ARM reads per principal and subscription, refilled at 25 a second
ARM_READ_REFILL_PER_S = 25.0
# Provisioning states in which Azure refuses another create/update of the same resource.
BUSY_STATES = frozenset({"Creating", "Updating", "Deleting"})


@dataclass
class Strictness:
    """Azure behaviours the emulator reproduces, each on by default (see the README).

    - ``api_versions``: only the api-versions real ARM accepts per resource type
      (:mod:`emulator.arm_versions`), otherwise ARM's 400 error body;
    - ``busy_conflicts``: a deployment create or update while its endpoint is Creating or
      Updating answers 409 (azure-sdk-for-net issue 36961: "Cannot create a deployment in
      endpoint X because it is in Updating provisioning state");
    - ``hidden_after_create``: seconds a new deployment answers 404 (and is left out of the
      list) after its create was accepted, while it is Creating (azure-dev issue 4037);
    - ``max_deployments``: deployments per endpoint (None: unlimited);
    - ``traffic_read_lag``: seconds after an endpoint update that changed its traffic or
      mirror traffic reported Succeeded during which reads of the endpoint still show the
      split before it (scoring routes by the new one at once). Azure's endpoint reads can
      trail its traffic updates: azd waits after UpdateTraffic until the endpoint shows the
      new split (azure-dev PR 3881). 0: reads show it at once.
    - ``arm_read_bucket``/``arm_read_refill_per_s``: ARM's read throttling, a token bucket per
      principal and subscription of 250 refilled at 25 a second; every answer to a GET carries
      the reads left in ``x-ms-ratelimit-remaining-subscription-reads`` (learn.microsoft.com/
      azure/azure-resource-manager/management/request-limits-and-throttling). 0: no bucket.
    - ``arm_read_throttle``: a GET on an empty bucket answers 429 with ``Retry-After``, as
      ARM does. Off by default, the one exception to the rule above: the emulator compresses
      provisioning and polling times (``--provisioning-delay``, ``--retry-after``), so pollers
      read far faster than they do against Azure and an Azure-sized bucket would refuse them.
    """

    api_versions: bool = True
    busy_conflicts: bool = True
    hidden_after_create: float = 1.0
    traffic_read_lag: float = 0.5
    max_deployments: int | None = MAX_DEPLOYMENTS_PER_ENDPOINT
    arm_read_bucket: int = ARM_READ_BUCKET
    arm_read_refill_per_s: float = ARM_READ_REFILL_PER_S
    arm_read_throttle: bool = False


class ReadBucket:
    """ARM's read token bucket (see :class:`Strictness`); ``clock`` is monotonic seconds."""

    def __init__(
        self, size: int, refill_per_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.refill_per_s = refill_per_s
        self._clock = clock
        self._tokens = float(size)
        self._at = self._clock()
        self.reads = 0  # GETs answered (throttled ones excluded)

    def take(self) -> tuple[bool, int, float]:
        """One read: (allowed, reads left, seconds until the next token when refused)."""
        now = self._clock()
        self._tokens = min(float(self.size), self._tokens + (now - self._at) * self.refill_per_s)
        self._at = now
        if self._tokens < 1.0:
            return False, 0, (1.0 - self._tokens) / self.refill_per_s
        self._tokens -= 1.0
        self.reads += 1
        return True, int(self._tokens), 0.0


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def system_data(created: str, modified: str) -> dict[str, str]:
    return {
        "createdAt": created,
        "createdBy": "emulator",
        "createdByType": "User",
        "lastModifiedAt": modified,
        "lastModifiedBy": "emulator",
        "lastModifiedByType": "User",
    }


@dataclass
class Asset:
    """A registered asset version (model, environment, code or data)."""

    name: str
    version: str
    body: dict[str, Any]
    created: str = field(default_factory=now_iso)


@dataclass
class Endpoint:
    name: str
    location: str
    tags: dict[str, str]
    identity: dict[str, Any] | None
    properties: dict[str, Any]
    keys: dict[str, str]
    state: str = "Creating"
    created: str = field(default_factory=now_iso)
    modified: str = field(default_factory=now_iso)
    busy: bool = False
    # The split reads still show, and the time.monotonic() until which they do
    # (Strictness.traffic_read_lag).
    shown_split: tuple[dict[str, int], dict[str, int]] | None = None
    shown_until: float = 0.0

    @property
    def traffic(self) -> dict[str, int]:
        return dict(self.properties.get("traffic") or {})

    @property
    def mirror_traffic(self) -> dict[str, int]:
        return dict(self.properties.get("mirrorTraffic") or {})


@dataclass
class Deployment:
    endpoint: str
    name: str
    location: str
    tags: dict[str, str]
    kind: str
    sku: dict[str, Any]
    properties: dict[str, Any]
    state: str = "Creating"
    created: str = field(default_factory=now_iso)
    modified: str = field(default_factory=now_iso)
    runtime: DeploymentRuntime | None = None
    busy: bool = False
    failure: str = ""
    hidden_until: float = 0.0  # time.monotonic() before which reads answer 404

    @property
    def instance_count(self) -> int:
        try:
            return max(1, int(self.sku.get("capacity") or 1))
        except (TypeError, ValueError):
            return 1

    @property
    def request_settings(self) -> dict[str, Any]:
        return dict(self.properties.get("requestSettings") or {})


def iso_duration_ms(value: Any, default: float) -> float:
    """Milliseconds of an ISO 8601 duration such as ``PT5S`` (``default`` when unset)."""
    if value in (None, ""):
        return default
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(
        r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", str(value).strip()
    )
    if not m:
        raise bad_request(f"invalid ISO 8601 duration {value!r}")
    d, h, mi, s = m.groups()
    seconds = int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    return seconds * 1000.0


def int_map(value: Any, what: str) -> dict[str, int]:
    """A traffic map {deployment: integer percent}, keys lower-cased as Azure does."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be an object of deployment name to percent")
    out: dict[str, int] = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or int(v) != v:
            raise bad_request(f"{what}[{k!r}] must be an integer percent, got {v!r}")
        if not 0 <= int(v) <= 100:
            raise bad_request(f"{what}[{k!r}] must be between 0 and 100, got {v}")
        out[str(k).lower()] = int(v)
    return out


def version_key(v: str) -> tuple[int, int | str]:
    return (0, int(v)) if v.isdigit() else (1, v)


def latest_version(versions: list[str]) -> str | None:
    if not versions:
        return None
    return sorted(versions, key=version_key)[-1]


def next_version(versions: list[str]) -> str:
    nums = [int(v) for v in versions if v.isdigit()]
    return str(max(nums) + 1 if nums else 1)


def workspace_body(ident: Any, arm_base: str) -> dict[str, Any]:
    """The workspace resource (azure-ai-ml reads its location before endpoint writes)."""
    return {
        "id": ident.workspace_id,
        "name": ident.workspace,
        "type": f"{PROVIDER}/workspaces",
        "location": ident.location,
        "kind": "Default",
        "tags": {},
        "identity": {"type": "SystemAssigned", "principalId": str(uuid.UUID(int=1))},
        "sku": {"name": "Basic", "tier": "Basic"},
        "properties": {
            "friendlyName": ident.workspace,
            "workspaceId": str(uuid.uuid5(uuid.NAMESPACE_URL, ident.workspace_id)),
            "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled",
            "v1LegacyMode": False,
            "discoveryUrl": f"{arm_base}discovery",
            "mlFlowTrackingUri": "",
            "storageAccount": (
                f"/subscriptions/{ident.subscription}/resourceGroups/{ident.resource_group}"
                "/providers/Microsoft.Storage/storageAccounts/emulatorstorage"
            ),
        },
        "systemData": system_data(now_iso(), now_iso()),
    }


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object")
    return data


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=dict(headers or {}),
    )
