"""Where the CLI finds the API and who it acts as.

Precedence, for each value on its own: flag > environment > config file.

- URL: ``--url``, ``AUTOCANARY_URL``, ``url`` in the config file.
- key: ``--key``, ``AUTOCANARY_KEY``, ``key`` in the config file (a Functions key).
- actor: ``--actor``, ``AUTOCANARY_ACTOR``, ``actor`` in the config file, else the signed-in
  Azure CLI user (``az account show``) when ``az`` is on PATH, else the OS user.

The config file is TOML: ``$AUTOCANARY_CONFIG``, else ``$XDG_CONFIG_HOME/autocanary/config.toml``
(``~/.config/autocanary/config.toml``).
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KNOWN_KEYS = ("url", "key", "actor")


class ConfigError(Exception):
    """The configuration is missing something or cannot be read."""


@dataclass(frozen=True)
class Config:
    url: str
    key: str | None
    source: str  # where the URL came from: "flag", "env" or the config file's path


@dataclass(frozen=True)
class Actor:
    name: str
    source: str  # "flag", "env", "config", "az account", "OS user"


def config_path(env: Mapping[str, str]) -> Path:
    explicit = env.get("AUTOCANARY_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or "~").expanduser() / ".config")
    return Path(base) / "autocanary" / "config.toml"


def read_file(env: Mapping[str, str]) -> tuple[dict[str, Any], Path]:
    path = config_path(env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, path
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"config file {path} is not valid TOML: nested too deeply") from None
    unknown = sorted(set(data) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key {unknown[0]!r} (known: {', '.join(KNOWN_KEYS)})"
        )
    for name, value in data.items():
        if not isinstance(value, str):
            raise ConfigError(f"config file {path}: {name} must be a string")
    return data, path


def resolve(url: str | None, key: str | None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    data, path = read_file(env)
    if url:
        found, source = url, "flag"
    elif env.get("AUTOCANARY_URL"):
        found, source = env["AUTOCANARY_URL"], "env"
    elif data.get("url"):
        found, source = data["url"], str(path)
    else:
        raise ConfigError(
            'no API URL: pass --url, set AUTOCANARY_URL or put url = "https://APP.azurewebsites'
            f'.net" in {path}'
        )
    if not found.startswith(("http://", "https://")):
        raise ConfigError(f"the API URL must start with http:// or https:// (got {found!r})")
    problem = url_problem(found)
    if problem:
        where = {"flag": "--url", "env": "AUTOCANARY_URL"}.get(source, f"url in {source}")
        raise ConfigError(f"the API URL {found!r} ({where}) {problem}")
    found_key, key_source = key, "--key"
    if not found_key:
        found_key, key_source = env.get("AUTOCANARY_KEY"), "AUTOCANARY_KEY"
    if not found_key:
        found_key, key_source = data.get("key"), f"key in {path}"
    problem = key_problem(found_key or "")
    if problem:
        raise ConfigError(f"the API key ({key_source}) {problem}")
    return Config(url=base_url(found), key=found_key or None, source=source)


# The only hosts an http:// API URL may name: this machine (the local stack).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def url_problem(url: str) -> str | None:
    """What makes ``url`` no address of an app (None when it is one)."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return "contains a space or a control character"
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # a port that is no number, or out of range, raises here
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if "@" in parts.netloc:
        return "must not hold a user name or password (pass the API key with --key)"
    if not parts.hostname:
        return "has no host name"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "must be the app's address, without a ?query or #fragment"
    if not parts.path.isascii():
        return "has characters that are not ASCII in its path (percent-encode them)"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "must use https:// (over http:// the API key would travel in clear text)"
    return None


def key_problem(key: str) -> str | None:
    """What keeps ``key`` out of an HTTP header (headers are Latin-1 text), or None."""
    try:
        key.encode("latin-1")
    except UnicodeEncodeError:
        return "has characters that are not Latin-1; an HTTP header cannot carry them"
    if any(not c.isprintable() for c in key):
        return "contains a control character (a stray newline?)"
    return None


def base_url(url: str) -> str:
    """The app's root URL: ``https://app.example/api/`` and ``https://app.example`` are one."""
    url = url.rstrip("/")
    if url.endswith("/api"):
        url = url[: -len("/api")]
    return url


def resolve_actor(actor: str | None, env: Mapping[str, str] | None = None) -> Actor:
    env = os.environ if env is None else env
    if actor:
        return Actor(actor, "flag")
    if env.get("AUTOCANARY_ACTOR"):
        return Actor(env["AUTOCANARY_ACTOR"], "env")
    data, _ = read_file(env)
    if data.get("actor"):
        return Actor(data["actor"], "config")
    signed_in = az_user()
    if signed_in:
        return Actor(signed_in, "az account")
    return Actor(os_user(), "OS user")


def az_user() -> str | None:
    """The user the Azure CLI is signed in as, or None (no ``az``, not signed in, too slow)."""
    az = shutil.which("az")
    if az is None:
        return None
    try:
        done = subprocess.run(
            [az, "account", "show", "--query", "user.name", "--output", "tsv"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = done.stdout.strip()
    return name if done.returncode == 0 and name else None


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"
