"""Workspace assets: models, environments, codes and data, as containers of immutable versions.

REST shapes: azure-rest-api-specs ``mfe.json`` (ModelVersion, EnvironmentVersion, CodeVersion,
DataVersionBase); paths ``.../workspaces/{ws}/{kind}/{name}/versions/{version}``.

Data versions are what azure-ai-ml registers for a deployment's data collection: before it
sends a deployment with a ``data_collector``, ``OnlineDeploymentOperations.
_register_collection_data_assets`` PUTs ``data/{endpoint}-{deployment}-{collection}/versions/1``
(``dataType: uri_folder``, ``dataUri`` under ``azureml://datastores/workspaceblobstore/paths/
modelDataCollector/...``) and, when the answer says the version "already exists", GETs it;
it then sends the data version's ARM id as ``dataCollector.collections[*].dataId``
(azure-ai-ml ``operations/_online_deployment_operations.py``).

Registry models: a deployment may name a model of an Azure ML registry,
``azureml://registries/{registry}/models/{name}/versions/{version}`` (learn.microsoft.com/
azure/machine-learning/how-to-share-models-pipelines-across-workspaces-with-registries; azure-ai-ml
passes such an id on unchanged, ``OperationOrchestrator.get_asset_arm_id`` /
``is_registry_id_for_resource``). The emulator keeps registry models beside the workspace's
(registered through the admin API with ``registry``; a registration there raises no workspace
event) and resolves such an id only to them, never to a workspace model of the same name.
Labels (``.../labels/latest``) are not resolved: the emulator refuses them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from emulator.arm_model import (
    ASSET_NAME_RE,
    PROVIDER,
    VERSION_RE,
    Asset,
    latest_version,
    next_version,
    now_iso,
    system_data,
)
from emulator.context import Context
from emulator.errors import ArmError, bad_request, not_found

KINDS = ("models", "environments", "codes", "data")
_SINGULAR = {"models": "Model", "environments": "Environment", "codes": "Code", "data": "Data"}
# The field that makes a version what it is: re-registering a version with another value is
# refused (asset versions are immutable; only tags, description and isArchived may change).
_CONTENT_KEY = {"models": "modelUri", "codes": "codeUri", "data": "dataUri"}
DATA_TYPES = ("uri_file", "uri_folder", "mltable")


class AssetStore:
    """The asset versions of one workspace."""

    def __init__(
        self, ctx: Context, on_model_registered: Callable[[Asset], None] | None = None
    ) -> None:
        self.ctx = ctx
        self.stores: dict[str, dict[str, dict[str, Asset]]] = {k: {} for k in KINDS}
        # registry -> model name -> version (registry names are case-insensitive: lowered)
        self.registry_models: dict[str, dict[str, dict[str, Asset]]] = {}
        self._on_model_registered = on_model_registered

    def store(self, kind: str) -> dict[str, dict[str, Asset]]:
        return self.stores[kind]

    def version_id(self, kind: str, name: str, version: str) -> str:
        return f"{self.ctx.identity.workspace_id}/{kind}/{name}/versions/{version}"

    def asset_body(self, kind: str, asset: Asset) -> dict[str, Any]:
        props = dict(asset.body.get("properties") or {})
        props.setdefault("isArchived", False)
        props.setdefault("isAnonymous", False)
        props.setdefault("tags", {})
        props.setdefault("properties", {})
        if kind == "models":
            props.setdefault("flavors", {})
            props.setdefault("modelType", "custom_model")
        props["provisioningState"] = "Succeeded"
        return {
            "id": self.version_id(kind, asset.name, asset.version),
            "name": asset.version,
            "type": f"{PROVIDER}/workspaces/{kind}/versions",
            "properties": props,
            "systemData": system_data(asset.created, asset.created),
        }

    def container_body(self, kind: str, name: str) -> dict[str, Any]:
        versions = self.stores[kind].get(name, {})
        props: dict[str, Any] = {
            "isArchived": False,
            "latestVersion": latest_version(list(versions)),
            "nextVersion": next_version(list(versions)),
            "tags": {},
            "properties": {},
            "provisioningState": "Succeeded",
        }
        if kind == "data":
            props["dataType"] = "uri_folder"
        return {
            "id": f"{self.ctx.identity.workspace_id}/{kind}/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/{kind}",
            "properties": props,
            "systemData": system_data(now_iso(), now_iso()),
        }

    def get_asset(self, kind: str, name: str, version: str) -> Asset:
        asset = self.stores[kind].get(name, {}).get(version)
        if asset is None:
            raise not_found(f"{_SINGULAR[kind]} version", f"{name}:{version}")
        return asset

    def put_asset(self, kind: str, name: str, version: str, body: Any) -> tuple[Asset, bool]:
        if not ASSET_NAME_RE.match(name):
            raise bad_request(f"invalid asset name {name!r}")
        if not VERSION_RE.match(version):
            raise bad_request(f"invalid asset version {version!r}")
        if not isinstance(body, dict) or not isinstance(body.get("properties", {}), dict):
            raise bad_request("the request body must be an object with 'properties'")
        props = dict(body.get("properties") or {})
        key = _CONTENT_KEY.get(kind)
        if key is not None and not props.get(key):
            raise bad_request(f"properties.{key} is required")
        if kind == "data":
            data_type = str(props.get("dataType") or "")
            if data_type not in DATA_TYPES:
                raise bad_request(
                    f"properties.dataType must be one of {', '.join(DATA_TYPES)}, got {data_type!r}"
                )
        versions = self.stores[kind].setdefault(name, {})
        existing = versions.get(version)
        if existing is not None and key is not None:
            old = existing.body.get("properties", {})
            if old.get(key) != props.get(key):
                raise ArmError(
                    409,
                    "UserError",
                    f"A {_SINGULAR[kind].lower()} version with name {name} and version "
                    f"{version} already exists with a different {key}; asset versions are "
                    "immutable (only tags, description and isArchived can be updated).",
                    [{"code": "Conflict", "message": "the asset version already exists"}],
                )
        asset = Asset(name=name, version=version, body={"properties": props})
        if existing is not None:
            asset.created = existing.created
        versions[version] = asset
        if kind == "models" and existing is None and self._on_model_registered is not None:
            self._on_model_registered(asset)
        return asset, existing is None

    def put_registry_model(self, registry: str, name: str, version: str, body: Any) -> Asset:
        """A model version of ``registry`` (immutable, like the workspace's: 409 when taken)."""
        if not ASSET_NAME_RE.match(registry):
            raise bad_request(f"invalid registry name {registry!r}")
        if not ASSET_NAME_RE.match(name):
            raise bad_request(f"invalid asset name {name!r}")
        if not VERSION_RE.match(version):
            raise bad_request(f"invalid asset version {version!r}")
        versions = self.registry_models.setdefault(registry.lower(), {}).setdefault(name, {})
        if version in versions:
            raise ArmError(
                409, "Conflict", f"model {name}:{version} already exists in registry {registry}"
            )
        asset = Asset(name=name, version=version, body=body)
        versions[version] = asset
        return asset

    def resolve(self, kind: str, ref: str) -> Asset:
        """An asset from an ARM id (``.../models/NAME/versions/V``), ``azureml:NAME:V`` or,
        for models, a registry's id (``azureml://registries/R/models/NAME/versions/V``)."""
        if ref.lower().startswith("azureml://registries/"):
            return self._resolve_registry(kind, ref)
        m = re.search(rf"/{kind}/([^/]+)/versions/([^/]+)$", ref, re.IGNORECASE)
        if m:
            return self.get_asset(kind, m.group(1), m.group(2))
        if ref.startswith("azureml:"):
            parts = ref[len("azureml:") :].split(":")
            if len(parts) == 2:
                return self.get_asset(kind, parts[0], parts[1])
        raise bad_request(f"cannot resolve {_SINGULAR[kind].lower()} reference {ref!r}")

    def _resolve_registry(self, kind: str, ref: str) -> Asset:
        m = re.match(
            rf"^azureml://registries/([^/]+)/{kind}/([^/]+)/versions/([^/]+)$", ref, re.IGNORECASE
        )
        if m is None or kind != "models":
            raise bad_request(
                f"cannot resolve {_SINGULAR[kind].lower()} reference {ref!r}: the emulator "
                "resolves registry models by version only (no labels, no other asset kinds)"
            )
        registry, name, version = m.groups()
        asset = self.registry_models.get(registry.lower(), {}).get(name, {}).get(version)
        if asset is None:
            raise not_found("Model version", f"{name}:{version} in registry {registry}")
        return asset

    def local_path(self, uri: str) -> Path:
        """Where the files of a model or code URI live on this machine."""
        m = re.match(r"^azureml://(?:.*/)?datastores/([^/]+)/paths/(.*)$", uri)
        if m:
            return self.ctx.state_dir / "datastores" / m.group(1) / unquote(m.group(2))
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            return Path(unquote(parsed.path))
        if parsed.scheme == "" and Path(uri).is_absolute():
            return Path(uri)
        raise bad_request(
            f"the emulator cannot read files at {uri!r}: use an azureml:// datastore path "
            "inside the emulator's datastore, a file:// URI or register the folder with "
            "'python -m emulator register-model'"
        )
