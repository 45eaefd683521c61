"""azure-ai-ml's endpoint and deployment entities in autocanary's terms. Pure: no SDK import.

- A deployment's model: the service returns a workspace model as its ARM id; autocanary writes
  it ``azureml:name:version`` (:func:`model_ref`); other references (registries) stay as
  they are.
- A provisioning state: the SDK gives enum members or plain strings; autocanary keeps Azure's
  word (``Succeeded``, ``Creating``, ...).
- An endpoint read (the endpoint entity and its deployment list) as an
  :class:`~shared.observation.EndpointInfo` (:func:`endpoint_info`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from shared.model import ModelRef
from shared.observation import DeploymentInfo, EndpointInfo
from shared.rules import shares

_MODEL_ARM_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices"
    r"/workspaces/[^/]+/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$",
    re.IGNORECASE,
)
_MODEL_SHORT = re.compile(r"^azureml:(?P<name>[^:/]+):(?P<version>[^:/]+)$", re.IGNORECASE)


def model_ref(value: Any) -> str | None:
    """A deployment's model as ``azureml:name:version`` when it is a workspace model (the
    service returns the ARM id); other references (registries) as they are."""
    if value is None:
        return None
    text = str(value)
    m = _MODEL_ARM_ID.match(text) or _MODEL_SHORT.match(text)
    return f"azureml:{m.group('name')}:{m.group('version')}" if m else text


def same_model(a: Any, b: Any) -> bool:
    ra, rb = model_ref(a), model_ref(b)
    return ra is not None and rb is not None and ra.lower() == rb.lower()


def workspace_model(value: Any) -> ModelRef | None:
    """A deployment's model as a ModelRef when it is a workspace model, else None."""
    m = _MODEL_SHORT.match(model_ref(value) or "")
    return ModelRef(m.group("name"), m.group("version")) if m else None


def provisioning_state(value: Any, default: str) -> str:
    """A provisioning state as Azure spells it: the SDK gives enum members (str-valued enums
    whose str() is ``DeploymentProvisioningState.SUCCEEDED``) or plain strings."""
    if value is None or value == "":
        return default
    return str(getattr(value, "value", value))


def int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def endpoint_info(endpoint: str, ep: Any, deployments: Iterable[Any]) -> EndpointInfo:
    """The endpoint ``ep`` (read as ``endpoint``) and its deployments: traffic zero-filled
    over the deployments, zero mirror entries dropped."""
    traffic_in = {str(k): int(v) for k, v in (ep.traffic or {}).items()}
    infos: dict[str, DeploymentInfo] = {}
    for dep in deployments:
        name = str(dep.name)
        infos[name] = DeploymentInfo(
            name=name,
            provisioning_state=provisioning_state(
                getattr(dep, "provisioning_state", None), "Unknown"
            ),
            model=model_ref(getattr(dep, "model", None)),
            instance_count=int_or_none(getattr(dep, "instance_count", None)),
        )
    # Split keys name deployments whatever their letter case: azure-ai-ml lower-cases the keys
    # it sends (operations/_online_endpoint_operations.py _strip_zeroes_from_traffic) and Azure
    # resource names are case-insensitive; each key is given the deployment's own spelling.
    by_lower = {name.lower(): name for name in infos}
    traffic_in = _respelled(traffic_in, by_lower)
    traffic = {name: traffic_in.get(name, 0) for name in infos}
    # Traffic naming a deployment the list did not return (a race with a delete) is kept:
    # it is what Azure routes by.
    traffic.update({k: v for k, v in traffic_in.items() if k not in infos and v > 0})
    mirror = _respelled(shares(ep.mirror_traffic), by_lower)
    return EndpointInfo(
        name=str(ep.name or endpoint),
        traffic=traffic,
        mirror=mirror,
        deployments=infos,
        provisioning_state=provisioning_state(getattr(ep, "provisioning_state", None), "Succeeded"),
        modified_at=modified_at(ep),
    )


def _respelled(split: Mapping[str, int], by_lower: Mapping[str, str]) -> dict[str, int]:
    """``split`` with each key spelled as the deployment it names (unknown keys as they are;
    two spellings of one deployment add up)."""
    out: dict[str, int] = {}
    for key, pct in split.items():
        name = by_lower.get(key.lower(), key)
        out[name] = out.get(name, 0) + pct
    return out


def modified_at(ep: Any) -> datetime | None:
    """Azure's systemData.lastModifiedAt of an endpoint entity: azure-ai-ml keeps it in the
    entity's ``properties`` as ``lastModifiedAt``, written with ``%Y-%m-%dT%H:%M:%S.%f%z``
    (azure-ai-ml entities/_endpoint/online_endpoint.py ``_from_rest_object``). None when
    absent or unreadable."""
    props = getattr(ep, "properties", None)
    raw = props.get("lastModifiedAt") if isinstance(props, Mapping) else None
    if not isinstance(raw, str) or not raw:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
