"""App settings: every one named here, validated with a clear error, documented in the README.

Run ``python -m shared.settings`` to validate the current environment (and the policy) before
deploying; the app validates the same way on its first invocation and refuses to run on an
invalid configuration rather than guess.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import ConfigurationError, PolicyError
from shared.policy import PolicySet, load_policy_text, parse_duration
from shared.settings_catalogue import SETTINGS

# Webhook URLs are secrets: https only (plain http to loopback for local runs and tests).
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _secure_url(url: str) -> bool:
    """An https URL with a host, or plain http to this machine: the host is parsed, never
    matched as a prefix ("http://localhost.example.net" and "http://127.0.0.1.nip.io" name
    other machines, and a webhook's secret would cross the network in clear text)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        return False
    if not host:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK)


API_KEYS_SETTING = "AUTOCANARY_API_KEYS"
# Keys that read and never act (the dashboard's views, a status page): a leaked one cannot
# promote, roll back or start anything.
API_READ_KEYS_SETTING = "AUTOCANARY_API_READ_KEYS"
MIN_API_KEY = 32
MAX_API_KEY = 512
_KEY_SEPARATORS = re.compile(r"[\s,]+")


def api_keys(
    env: Mapping[str, str] | None = None, setting: str = API_KEYS_SETTING
) -> tuple[str, ...]:
    """The keys the HTTP API accepts (``AUTOCANARY_API_KEYS``; with ``setting``
    ``AUTOCANARY_API_READ_KEYS``, the read-only ones), read from the environment on every call
    (cheap; a rotated key applies when the app restarts with the new setting). A key too
    short or too long is a ConfigurationError; unset: no key is accepted."""
    raw = (os.environ if env is None else env).get(setting, "")
    keys = tuple(k for k in _KEY_SEPARATORS.split(raw) if k)
    problem = _api_keys_problem(keys, setting)
    if problem:
        raise ConfigurationError(problem)
    return keys


def _api_keys_problem(keys: tuple[str, ...], setting: str = API_KEYS_SETTING) -> str | None:
    for key in keys:
        if key.lower().startswith("@microsoft.keyvault"):
            # A reference App Service cannot resolve reaches the app as its literal text ("your
            # application reads the literal reference string instead of the secret",
            # insightcrunch.com, "Configure Key Vault references"): never a key, since the
            # reference is no secret.
            return (
                f"{setting} is an unresolved Key Vault reference: the app's identity "
                "cannot read the secret (check Key Vault Secrets User on it and "
                "keyVaultReferenceIdentity)"
            )
        if not MIN_API_KEY <= len(key) <= MAX_API_KEY or not key.isprintable():
            return (
                f"{setting}: every key must be {MIN_API_KEY}-{MAX_API_KEY} printable "
                "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    return None


# The app root (where function_app.py and policy.yaml are deployed): relative paths start here.
APP_ROOT = Path(__file__).resolve().parent.parent

_GUID = re.compile(r"^[0-9a-fA-F-]{36}$")
_CREDENTIALS = ("default", "managed-identity", "local")


@dataclass(frozen=True)
class Settings:
    subscription_id: str
    resource_group: str
    workspace: str
    metrics_endpoint: str
    policy_text: str
    policy_source: str
    storage_connection: str | None
    table_endpoint: str | None
    table_name: str
    eventgrid_endpoint: str | None
    eventgrid_key: str | None
    max_concurrency: int
    credential: str
    client_id: str | None
    arm_endpoint: str | None
    ca_bundle: str | None
    metrics_granularity_seconds: float = 60.0
    retention_seconds: float = 90 * 86400.0
    # Notification channels: app setting name -> webhook URL (the two app-wide settings when
    # set, and every setting a policy rule's ``notify`` names). Secrets: kept out of repr.
    webhooks: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Chat webhook settings that are missing or not usable (a plain http:// URL, a Key Vault
    # reference App Service could not resolve, whose literal text it passes on): those
    # channels are left out, never fatal, so a chat setting never stops rollouts or alert
    # rollbacks; reported by `python -m shared.settings` (exit 2), the log and health.
    notify_problems: tuple[str, ...] = ()
    public_url: str | None = None
    data_collection_url: str | None = None  # the container of the workspace blob store
    data_collection_connection: str | None = field(default=None, repr=False)

    @property
    def workspace_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace}"
        )

    @property
    def local(self) -> bool:
        return self.arm_endpoint is not None

    def policies(self) -> PolicySet:
        try:
            return load_policy_text(self.policy_text, source=self.policy_source)
        except PolicyError as exc:
            raise PolicyError(exc.field, f"{exc.message} (in {self.policy_source})") from exc

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, root: Path | None = None) -> Settings:
        """Read and validate every setting; the error names each missing or bad one."""
        env = os.environ if env is None else env
        problems: list[str] = []

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        def need(name: str) -> str:
            value = get(name)
            if value is None:
                problems.append(f"{name} is required ({SETTINGS[name][1]})")
                return ""
            return value

        subscription = need("AZURE_SUBSCRIPTION_ID")
        if subscription and not _GUID.match(subscription):
            problems.append("AZURE_SUBSCRIPTION_ID must be a GUID")
        resource_group = need("AZURE_RESOURCE_GROUP")
        workspace = need("AZUREML_WORKSPACE_NAME")
        metrics = need("AUTOCANARY_METRICS_ENDPOINT")
        if metrics and not metrics.startswith("https://"):
            problems.append("AUTOCANARY_METRICS_ENDPOINT must be an https:// URL")

        policy_text, policy_source = "", "AUTOCANARY_POLICY"
        inline, path = get("AUTOCANARY_POLICY"), get("AUTOCANARY_POLICY_FILE")
        if inline and path:
            problems.append("set AUTOCANARY_POLICY or AUTOCANARY_POLICY_FILE, not both")
        elif inline:
            policy_text = inline
        elif path:
            file = Path(path)
            if not file.is_absolute():
                # relative to the app root, never to the working directory: the Python worker's
                # maintainers say not to rely on it (azure-functions-python-worker issue 340:
                # "use an absolute path obtained from __file__")
                file = (root or APP_ROOT) / file
            policy_source = str(path)
            try:
                policy_text = file.read_text(encoding="utf-8")
            except OSError as exc:
                problems.append(f"AUTOCANARY_POLICY_FILE {path!r} cannot be read: {exc.strerror}")
        else:
            problems.append("AUTOCANARY_POLICY_FILE (or AUTOCANARY_POLICY) is required")

        connection = get("AUTOCANARY_STORAGE_CONNECTION") or get("AzureWebJobsStorage")
        # The host storage's identity-based form names its table service in
        # AzureWebJobsStorage__tableServiceUri (Azure Functions docs, "Identity-based
        # connections": <CONNECTION_NAME_PREFIX>__tableServiceUri, MicrosoftDocs/azure-docs
        # includes/functions-table-connections.md); __accountName alone names no table URI.
        table_endpoint = get("AUTOCANARY_TABLE_ENDPOINT") or (
            "" if connection else get("AzureWebJobsStorage__tableServiceUri")
        )
        if connection == "UseDevelopmentStorage=true":
            problems.append(
                "UseDevelopmentStorage=true is not supported: give Azurite's full connection "
                "string in AUTOCANARY_STORAGE_CONNECTION"
            )
        if not connection and not table_endpoint:
            problems.append(
                "a rollout store is required: AUTOCANARY_STORAGE_CONNECTION, "
                "AUTOCANARY_TABLE_ENDPOINT, AzureWebJobsStorage (a connection string) or "
                "AzureWebJobsStorage__tableServiceUri"
            )
        if table_endpoint and not table_endpoint.startswith(("https://", "http://127.0.0.1")):
            problems.append(
                "AUTOCANARY_TABLE_ENDPOINT (or AzureWebJobsStorage__tableServiceUri) must be an "
                "https:// URL"
            )

        collection_url = get("AUTOCANARY_DATA_COLLECTION_CONTAINER_URL")
        if collection_url and not collection_url.startswith(("https://", "http://127.0.0.1")):
            problems.append("AUTOCANARY_DATA_COLLECTION_CONTAINER_URL must be an https:// URL")

        concurrency_raw = get("AUTOCANARY_MAX_CONCURRENCY") or "8"
        concurrency = int(concurrency_raw) if concurrency_raw.isdigit() else 0
        if not 1 <= concurrency <= 64:
            problems.append("AUTOCANARY_MAX_CONCURRENCY must be a whole number from 1 to 64")

        credential = (get("AUTOCANARY_CREDENTIAL") or "default").lower()
        arm = get("AUTOCANARY_ARM_ENDPOINT")
        if credential not in _CREDENTIALS:
            problems.append(f"AUTOCANARY_CREDENTIAL must be one of {', '.join(_CREDENTIALS)}")
        if credential == "local" and not arm:
            problems.append("AUTOCANARY_CREDENTIAL=local is only for the local emulator")
        if arm and not arm.startswith("https://"):
            problems.append("AUTOCANARY_ARM_ENDPOINT must be https:// (bearer tokens need TLS)")
        ca_bundle = get("AUTOCANARY_CA_BUNDLE")
        if ca_bundle and not Path(ca_bundle).is_file():
            problems.append(f"AUTOCANARY_CA_BUNDLE {ca_bundle!r} is not a file")
        granularity = 60.0
        granularity_raw = get("AUTOCANARY_METRICS_GRANULARITY_SECONDS")
        if granularity_raw is not None:
            try:
                granularity = float(granularity_raw)
            except ValueError:
                granularity = 0.0
            if not 0.5 <= granularity <= 60.0:
                problems.append(
                    "AUTOCANARY_METRICS_GRANULARITY_SECONDS must be a number of seconds from "
                    "0.5 to 60"
                )
            elif granularity != 60.0 and not arm:
                problems.append(
                    "AUTOCANARY_METRICS_GRANULARITY_SECONDS is only for the local emulator "
                    "(Azure Monitor's grain is one minute)"
                )
        retention = 90 * 86400.0
        retention_raw = get("AUTOCANARY_RETENTION")
        if retention_raw is not None:
            try:
                retention = parse_duration(retention_raw, "AUTOCANARY_RETENTION")
            except PolicyError:
                retention = -1.0
            if retention < 86400.0:
                problems.append(
                    "AUTOCANARY_RETENTION must be a duration of at least one day, like 90d or 36h"
                )
        for keys_setting in (API_KEYS_SETTING, API_READ_KEYS_SETTING):
            keys_problem = _api_keys_problem(
                tuple(k for k in _KEY_SEPARATORS.split(get(keys_setting) or "") if k), keys_setting
            )
            if keys_problem:
                problems.append(keys_problem)
        eventgrid = get("AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT")
        if eventgrid and not eventgrid.startswith("https://"):
            problems.append("AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT must be an https:// URL")
        webhooks: dict[str, str] = {}
        notify_problems: list[str] = []
        for name in ("AUTOCANARY_TEAMS_WEBHOOK_URL", "AUTOCANARY_SLACK_WEBHOOK_URL"):
            url = get(name)
            if url is None:
                continue
            if _secure_url(url):
                webhooks[name] = url
            else:
                notify_problems.append(f"{name} must be an https:// URL{_unresolved(url)}")
        public_url = get("AUTOCANARY_PUBLIC_URL")
        if public_url is None and get("WEBSITE_HOSTNAME"):
            public_url = f"https://{get('WEBSITE_HOSTNAME')}"
        if public_url and not _secure_url(public_url):
            problems.append(
                "AUTOCANARY_PUBLIC_URL must be an https:// URL (http:// only to this machine)"
            )

        if policy_text and not problems:
            try:
                named = notify_settings(load_policy_text(policy_text, source=policy_source))
            except PolicyError:
                named = {}  # reported by settings.policies() below, with the field named
            for name, rule in sorted(named.items()):
                url = get(name)
                if url is None:
                    notify_problems.append(f"{name} (named by rule {rule!r} notify) is not set")
                elif not _secure_url(url):
                    notify_problems.append(
                        f"{name} (named by rule {rule!r} notify) must be an https:// URL"
                        + _unresolved(url)
                    )
                else:
                    webhooks[name] = url

        if problems:
            raise ConfigurationError(
                "invalid app settings: " + "; ".join(problems), details={"problems": problems}
            )
        settings = cls(
            subscription_id=subscription,
            resource_group=resource_group,
            workspace=workspace,
            metrics_endpoint=metrics.rstrip("/"),
            policy_text=policy_text,
            policy_source=policy_source,
            storage_connection=connection,
            table_endpoint=table_endpoint,
            table_name=get("AUTOCANARY_TABLE_NAME") or "autocanary",
            eventgrid_endpoint=eventgrid,
            eventgrid_key=get("AUTOCANARY_EVENTGRID_TOPIC_KEY"),
            max_concurrency=concurrency,
            credential=credential,
            client_id=get("AZURE_CLIENT_ID"),
            arm_endpoint=arm.rstrip("/") + "/" if arm else None,
            ca_bundle=ca_bundle,
            metrics_granularity_seconds=granularity,
            retention_seconds=retention,
            webhooks=webhooks,
            notify_problems=tuple(notify_problems),
            public_url=public_url.rstrip("/") if public_url else None,
            data_collection_url=collection_url.rstrip("/") if collection_url else None,
            data_collection_connection=get("AUTOCANARY_DATA_COLLECTION_CONNECTION"),
        )
        settings.policies()  # an invalid policy fails here, before any rollout
        return settings


def _unresolved(value: str) -> str:
    """A hint when a setting holds a Key Vault reference's own text: App Service passes it on
    when it cannot resolve it ("If a reference isn't resolved properly, the reference string
    is used instead": learn.microsoft.com/azure/app-service/app-service-key-vault-references)."""
    if value.lstrip().startswith("@Microsoft.KeyVault("):
        return (
            " (it holds a Key Vault reference App Service could not resolve: check the "
            "secret and the app identity's access to it)"
        )
    return ""


def notify_settings(policies: PolicySet) -> dict[str, str]:
    """The app settings the policy's rules name in ``notify`` -> the first rule naming each."""
    named: dict[str, str] = {}
    for rule in policies.rules:
        for _, setting in rule.policy.notify:
            named.setdefault(setting, rule.name)
    return named


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.settings``: validate the environment and the policy;
    ``python -m shared.settings --policy FILE``: validate that policy file alone."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m shared.settings", description=main.__doc__)
    parser.add_argument("--policy", metavar="FILE", help="check this policy file only")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.policy is not None:
            try:
                text = Path(args.policy).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(f"{args.policy!r} cannot be read: {exc.strerror}") from exc
            settings = None
            rules = load_policy_text(text, source=args.policy).rules
        else:
            settings = Settings.from_env()
            rules = settings.policies().rules
    except (ConfigurationError, PolicyError) as exc:
        where = f" (in {args.policy})" if isinstance(exc, PolicyError) and args.policy else ""
        print(f"autocanary: {exc.message}{where}", file=sys.stderr)
        return 2
    if settings is None:
        print(f"autocanary policy OK: {args.policy}, {len(rules)} rule(s)")
    elif settings.notify_problems:
        for problem in settings.notify_problems:
            print(f"autocanary: chat notifications: {problem}", file=sys.stderr)
        return 2
    else:
        print(
            f"autocanary settings OK: workspace {settings.workspace}, {len(rules)} policy rule(s)"
        )
    for rule in rules:
        notify = ", ".join(f"{kind} {setting}" for kind, setting in rule.policy.notify)
        print(
            f"  {rule.name}: {rule.match.model} -> {rule.endpoint}"
            + (f" (notify: {notify})" if notify else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
