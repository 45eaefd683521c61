"""local.settings.json and host.json, read the way the Functions host reads them locally.

``Values`` of local.settings.json become environment variables before the app is imported.
A variable that is already set in the environment wins and the local setting is skipped with
a warning: Core Tools does the same ("Skipping 'X' from local settings as it's already defined
in current environment variables.", Azure/azure-functions-core-tools,
src/Azure.Functions.Cli/Actions/HostActions/StartHostAction.cs, UpdateEnvironmentVariables).
An empty string value is set as an empty variable; a null value is skipped.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("devhost")

DEFAULT_ROUTE_PREFIX = "api"


class ConfigError(ValueError):
    """A settings or host file that cannot be used."""


@dataclass
class LocalSettings:
    """What was applied from local.settings.json."""

    path: Path | None
    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid JSON: {exc}") from exc


def _values(document: Any, path: Path) -> dict[str, str | None]:
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    if document.get("IsEncrypted") is True:
        raise ConfigError(
            f"{path}: IsEncrypted is true; devhost cannot decrypt settings "
            "(run `func settings decrypt` or keep the file in plain text)"
        )
    values = document.get("Values", {})
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: 'Values' must be an object of strings")
    result: dict[str, str | None] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{path}: 'Values' has an empty key")
        if value is None or isinstance(value, str):
            result[key] = value
        elif isinstance(value, bool):
            # The host reads settings as strings; JSON true/false arrive as "True"/"False".
            result[key] = "True" if value else "False"
        elif isinstance(value, (int, float)):
            result[key] = str(value)
        else:
            raise ConfigError(f"{path}: Values.{key} must be a string, number or boolean")
    return result


def load_local_settings(
    path: Path,
    *,
    required: bool,
    environ: MutableMapping[str, str] | None = None,
) -> LocalSettings:
    """Copy ``Values`` into ``environ`` (default ``os.environ``) without overriding it.

    A missing file is an error when ``required`` (the path was given explicitly), else a
    warning: the host starts without local settings too. Everything is validated before
    anything is written, so a bad file changes nothing.
    """
    env = os.environ if environ is None else environ
    if not path.exists():
        if required:
            raise ConfigError(f"settings file {path} does not exist")
        log.warning("no %s: starting without local settings", path)
        return LocalSettings(path=None)
    values = _values(_read_json(path, "settings file"), path)
    settings = LocalSettings(path=path)
    for key, value in values.items():
        if value is None:
            log.warning("Skipping '%s' because value is null", key)
            settings.skipped.append(key)
        elif env.get(key):
            log.warning(
                "Skipping '%s' from local settings as it's already defined in the environment",
                key,
            )
            settings.skipped.append(key)
        else:
            env[key] = value
            settings.applied.append(key)
    return settings


def read_route_prefix(host_json: Path) -> str:
    """``extensions.http.routePrefix`` of host.json (may be ""), else ``api``."""
    if not host_json.exists():
        return DEFAULT_ROUTE_PREFIX
    document = _read_json(host_json, "host file")
    if not isinstance(document, dict):
        raise ConfigError(f"{host_json}: expected a JSON object at the top level")
    extensions = document.get("extensions") or {}
    http = extensions.get("http") or {} if isinstance(extensions, dict) else None
    if not isinstance(http, dict):
        raise ConfigError(f"{host_json}: extensions.http must be an object")
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(prefix, str):
        raise ConfigError(f"{host_json}: extensions.http.routePrefix must be a string")
    return prefix.strip("/")
