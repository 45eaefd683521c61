"""The one place the engine and its adapters are built, lazily, from app settings.

Nothing here runs at import time: handlers call :func:`engine` on their first invocation, and
the Azure SDKs are imported only then (azure-ai-ml alone costs about 2 s). Tests and local
tools install a ready engine with :func:`use_engine`.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import AutocanaryError, ConfigurationError

if TYPE_CHECKING:
    from shared.notify.dispatch import Notifications
    from shared.ports import InputSamples
    from shared.services import Engine
    from shared.settings import Settings

log = logging.getLogger("autocanary")
_lock = threading.Lock()
_engine: Engine | None = None
_error: AutocanaryError | None = None

# azure-core logs every request and response (headers included) at INFO on this logger; the
# Functions host would ship each line to Application Insights. WARNING keeps its errors only.
HTTP_LOGGING_POLICY = "azure.core.pipeline.policies.http_logging_policy"
QUIET_LOGGERS = (HTTP_LOGGING_POLICY, "azure.identity", "azure.monitor.opentelemetry.exporter")


def quiet_sdk_logging() -> None:
    """Set the Azure SDKs' chatty loggers to WARNING (unless configured lower already, e.g.
    by a developer debugging): called when the engine is built, before any SDK call."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def engine() -> Engine:
    """The process-wide engine, built on first use; a configuration error is raised on every
    call (the app refuses to run misconfigured rather than guess)."""
    global _engine, _error
    if _engine is not None:
        return _engine
    with _lock:
        if _engine is None:
            try:
                _engine = build_engine()
                _error = None
            except AutocanaryError as exc:
                _error = exc
                log.error("autocanary is misconfigured: %s", exc.message)
                raise
        return _engine


def use_engine(engine: Engine | None) -> None:
    """Install (or with None, forget) the engine: for tests and local tools."""
    global _engine, _error
    with _lock:
        _engine, _error = engine, None


def build_engine(settings: Settings | None = None) -> Engine:
    from shared.settings import Settings

    settings = settings or Settings.from_env()  # validate before importing any SDK
    from shared.azure.autoscale import MonitorAutoscale

    quiet_sdk_logging()
    from shared.azure.credentials import build_credential
    from shared.azure.endpoints import MLEndpointControl
    from shared.azure.events import build_publisher
    from shared.azure.metrics import MonitorMetricsSource
    from shared.azure.scoring import MLScoring
    from shared.azure.tables import TableRolloutStore
    from shared.clock import SystemClock
    from shared.judge import SequentialJudge
    from shared.samples import Samples
    from shared.services import Engine

    policies = settings.policies()
    credential = build_credential(settings)
    if settings.table_endpoint:
        store = TableRolloutStore.from_account_url(
            settings.table_endpoint, credential, settings.table_name
        )
    elif settings.storage_connection:
        store = TableRolloutStore.from_connection_string(
            settings.storage_connection, settings.table_name
        )
    else:  # pragma: no cover - Settings.from_env refuses this
        raise ConfigurationError("no rollout store configured")
    return Engine(
        store=store,
        endpoints=MLEndpointControl(settings, credential),
        metrics=MonitorMetricsSource(
            settings, credential, granularity_seconds=settings.metrics_granularity_seconds
        ),
        judge=SequentialJudge(),
        clock=SystemClock(),
        events=build_publisher(settings, credential),
        policies=policies,
        workspace_id=settings.workspace_id,
        max_concurrency=settings.max_concurrency,
        retention=timedelta(seconds=settings.retention_seconds),
        autoscale=MonitorAutoscale(settings, credential),
        notifications=build_notifications(settings),
        notify_problems=settings.notify_problems,
        scoring=MLScoring(settings, credential),
        samples=Samples(_sample_dir(settings), _data_collection(settings, credential)),
    )


def _data_collection(settings: Settings, credential: Any) -> InputSamples | None:
    """The data collection reader, when its container is configured."""
    if not settings.data_collection_url:
        return None
    from shared.azure.datacollection import BlobDataCollection

    return BlobDataCollection(
        settings.data_collection_url,
        credential=credential,
        connection=settings.data_collection_connection,
    )


def _sample_dir(settings: Settings) -> Path:
    """Sample files named by the policy are relative to the policy file's directory (the
    app root for an inline policy)."""
    root = Path(__file__).resolve().parent.parent  # the app root
    source = Path(settings.policy_source)
    if not source.suffix:  # an inline policy (AUTOCANARY_POLICY)
        return root
    return (source if source.is_absolute() else root / source).parent


def build_notifications(settings: Settings) -> Notifications | None:
    """Chat notifications when any webhook is configured (app-wide or named by a rule)."""
    if not settings.webhooks:
        return None
    from shared.azure.webhooks import WebhookNotifier
    from shared.notify.channels import ChannelBook
    from shared.notify.dispatch import Notifications

    return Notifications(
        WebhookNotifier(),
        ChannelBook.from_webhooks(settings.webhooks),
        public_url=settings.public_url,
    )
