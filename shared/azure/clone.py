"""A new deployment like a live one, built for azure-ai-ml's ``begin_create_or_update``.

What the SDK reads back and what it must be given differ (azure-ai-ml 1.35, Azure/azure-sdk-
for-python ``sdk/ml/azure-ai-ml/azure/ai/ml``):

- ``data_collector``: read back, each ``collections[name].data`` is the data version's ARM id
  (``entities/_deployment/deployment_collection.py``, ``_from_rest_object``: ``data=
  rest_obj.data_id``); but ``OnlineDeploymentOperations._register_collection_data_assets``
  (``operations/_online_deployment_operations.py``) reads ``value.data.name``/``.version``/
  ``.path``, so it must be a ``DataAsset`` or None. With None the SDK registers the
  deployment's own data asset ``{endpoint}-{deployment}-{collection}`` version 1 under
  ``modelDataCollector/{endpoint}/{deployment}/{collection}`` (``DEFAULT_MDC_PATH``). So a
  collection that used the source's default asset gets the new deployment's default one, and a
  collection that named its own data asset keeps it (name, version and path, read back with
  ``ml.data.get``). ``DataCollector._to_rest_object`` also mutates the collector (deletes
  ``sampling_rate``, replaces ``request_logging``): the clone gets a collector of its own.
- ``model_mount_path``: sent (``OnlineDeployment._to_rest_object``) but never read back
  (``ManagedOnlineDeployment._from_rest_object`` has no ``model_mount_path``): it is read from
  the REST resource (``properties.model_mount_path`` of the generated client's ``get``).
- ``request_settings``: durations are read back truncated to whole seconds
  (``_utils/utils.py`` ``from_iso_duration_format``), so a 700 ms queue wait reads as 0 and is
  then not sent at all: they are taken from the REST resource, to the millisecond.
- ``startupProbe``: in the REST model (``ProbeSettings``, api-version 2025-12-01 that the
  SDK's generated client sends) but neither read nor sent by the entity
  (``ManagedOnlineDeployment._from_rest_object`` / ``_to_rest_object`` know liveness and
  readiness only): read from the REST resource and set on the REST body the entity builds
  (:func:`_deployment_class`), so a slow-loading model keeps the probe that lets it load.
- ``properties``: read back and sent as a plain dict (copied), without
  ``AzureAsyncOperationUri``: Azure ML writes the status URL of the deployment's own last
  operation there (:mod:`shared.azure.operation_status`), and the clone's would otherwise
  name the source's.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Any, cast

from shared.azure.operation_status import ASYNC_URI_PROPERTY
from shared.azure.retry import Call
from shared.effects import CreateDeployment
from shared.errors import AzureRuleViolation

TAG_SOURCE = "autocanary-source"
TAG_MODEL = "autocanary-model"

_DATA_ID = re.compile(r"/data/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", re.IGNORECASE)
_DATA_SHORT = re.compile(r"^azureml:(?P<name>[^:/]+):(?P<version>[^:/]+)$", re.IGNORECASE)


def read_rest(ml: Any, endpoint: str, name: str, call: Call[Any]) -> Any:
    """The deployment as the generated REST client returns it, for what the SDK entity loses
    on its way back (``OnlineDeploymentOperations.get`` wraps exactly this call)."""
    ops = ml.online_deployments
    return call(
        lambda: ops._online_deployment.get(
            resource_group_name=ops._resource_group_name,
            workspace_name=ops._workspace_name,
            endpoint_name=endpoint,
            deployment_name=name,
            **ops._init_kwargs,
        ),
        f"read deployment {endpoint}/{name}",
    )


def _iso_ms(value: Any) -> int | None:
    """Milliseconds of an ISO 8601 duration, to the millisecond (the SDK's own reader,
    ``from_iso_duration_format_ms``, truncates to whole seconds: PT0.7S reads back as 0)."""
    if not value:
        return None
    if not isinstance(value, timedelta):  # the generated models give timedelta; be lenient
        import isodate

        value = isodate.parse_duration(str(value))
    return round(float(value.total_seconds()) * 1000)


def _request_settings(source: Any, rest_props: Any) -> Any:
    """The source's request settings with its durations as Azure holds them."""
    from azure.ai.ml.entities import OnlineRequestSettings

    raw = getattr(rest_props, "request_settings", None)
    if raw is None:
        return source.request_settings
    return OnlineRequestSettings(
        max_concurrent_requests_per_instance=raw.max_concurrent_requests_per_instance,
        request_timeout_ms=_iso_ms(raw.request_timeout),
        max_queue_wait_ms=_iso_ms(raw.max_queue_wait),
    )


def _collection_data(
    value: Any, endpoint: str, source: str, collection: str, ml: Any, call: Call[Any]
) -> Any:
    """What to give the SDK as a collection's ``data`` (see the module docstring)."""
    from azure.ai.ml.entities import DataAsset

    if value is None:
        return None
    if isinstance(value, DataAsset):
        return DataAsset(
            data_id=value.data_id, name=value.name, path=value.path, version=value.version
        )
    text = str(value)
    m = _DATA_ID.search(text) or _DATA_SHORT.match(text)
    if m is None:
        raise AzureRuleViolation(
            f"data collection {collection!r} of deployment {endpoint}/{source} names data "
            f"{text!r}, which is not a workspace data asset version",
            code="UnsupportedDataCollector",
        )
    name, version = m.group("name"), m.group("version")
    if name.lower() == f"{endpoint}-{source}-{collection}".lower():
        return None  # the source's own default asset: the clone gets its own default
    data = call(lambda: ml.data.get(name, version), f"get data asset {name}:{version}")
    # DataAsset.version is annotated int, yet the SDK passes it on as Data(version=...), a str.
    return DataAsset(name=name, version=cast(Any, version), path=str(data.path))


def _clone_collector(collector: Any, endpoint: str, source: str, ml: Any, call: Call[Any]) -> Any:
    from azure.ai.ml.entities import DataCollector, DeploymentCollection, RequestLogging

    if collector is None:
        return None
    collections = {
        str(name): DeploymentCollection(
            enabled=coll.enabled,
            data=_collection_data(coll.data, endpoint, source, str(name), ml, call),
            client_id=coll.client_id,
        )
        for name, coll in (collector.collections or {}).items()
    }
    logging_cfg = collector.request_logging
    headers = getattr(logging_cfg, "capture_headers", None)
    return DataCollector(
        collections,
        rolling_rate=collector.rolling_rate,
        sampling_rate=collector.sampling_rate,
        request_logging=(
            RequestLogging(capture_headers=list(headers) if headers is not None else None)
            if logging_cfg is not None
            else None
        ),
    )


def clone_deployment(
    source: Any,
    endpoint: str,
    effect: CreateDeployment,
    *,
    rest: Any,
    ml: Any,
    call: Call[Any],
) -> Any:
    """A ManagedOnlineDeployment like ``source`` (``rest``: the same deployment as the REST
    client read it) with the new model, name and tags."""
    tags = {str(k): str(v) for k, v in (source.tags or {}).items()}
    tags.update({TAG_SOURCE: effect.source, TAG_MODEL: effect.model.asset_id})
    return copy_deployment(
        source,
        endpoint,
        source_name=effect.source,
        name=effect.name,
        model=effect.model.asset_id,
        instance_count=effect.instance_count,
        tags=tags,
        rest=rest,
        ml=ml,
        call=call,
    )


def copy_deployment(
    source: Any,
    endpoint: str,
    *,
    source_name: str,
    name: str,
    model: str,
    instance_count: int | None,
    tags: dict[str, str],
    rest: Any,
    ml: Any,
    call: Call[Any],
) -> Any:
    """A ManagedOnlineDeployment ``name`` like ``source`` (deployment ``source_name``) with
    ``model`` (any reference azure-ai-ml takes: ``azureml:name:version``, a workspace model's
    ARM id or a registry's id, which it passes on unchanged), ``instance_count`` (None: the
    source's) and exactly ``tags`` (constructor: azure-ai-ml entities/_deployment/
    online_deployment.py)."""
    from azure.ai.ml.entities import ManagedOnlineDeployment

    if not isinstance(source, ManagedOnlineDeployment):
        raise AzureRuleViolation(
            f"deployment {endpoint}/{source_name} is not a managed online deployment "
            f"({type(source).__name__}); only managed deployments are rolled out",
            code="UnsupportedDeploymentType",
        )
    rest_props = getattr(rest, "properties", None)
    mount_path = getattr(rest_props, "model_mount_path", None)
    deployment = _deployment_class()(
        name=name,
        endpoint_name=endpoint,
        model=model,
        environment=source.environment,
        code_configuration=source.code_configuration,
        instance_type=source.instance_type,
        instance_count=instance_count or source.instance_count,
        # Managed deployments carry DefaultScaleSettings only (azure.md); passed as read.
        scale_settings=cast(Any, source.scale_settings),
        request_settings=_request_settings(source, rest_props),
        liveness_probe=source.liveness_probe,
        readiness_probe=source.readiness_probe,
        environment_variables=dict(source.environment_variables or {}),
        app_insights_enabled=bool(source.app_insights_enabled),
        data_collector=_clone_collector(source.data_collector, endpoint, source_name, ml, call),
        egress_public_network_access=source.egress_public_network_access,
        description=source.description,
        properties={
            str(k): v for k, v in (source.properties or {}).items() if k != ASYNC_URI_PROPERTY
        },
        model_mount_path=str(mount_path) if mount_path else None,
        tags=tags,
    )
    deployment.startup_probe_rest = getattr(rest_props, "startup_probe", None)
    return deployment


@functools.cache
def _deployment_class() -> Any:
    """ManagedOnlineDeployment that also sends the REST ``startupProbe`` it was given
    (``startup_probe_rest``; see the module docstring). Built on first use: azure-ai-ml is
    not imported at import time."""
    from azure.ai.ml.entities import ManagedOnlineDeployment

    class _Deployment(ManagedOnlineDeployment):
        startup_probe_rest: Any = None

        def _to_rest_object(self, location: str) -> Any:  # type: ignore[override]  # as the SDK
            body = super()._to_rest_object(location)
            if self.startup_probe_rest is not None:
                body.properties.startup_probe = self.startup_probe_rest
            return body

    return _Deployment
