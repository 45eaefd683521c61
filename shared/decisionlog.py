"""One structured log record per decision, in a form Application Insights keeps.

Each decision the engine commits is logged once (logger ``autocanary.decisions``, level INFO)
with its fields as flat ``extra`` keys: rollout id, endpoint, model and version, sequence
number, phase and stage from/to, reason, actor, and the key figures of its evidence (counts,
e-values, thresholds). Values are strings, numbers or booleans, never nested.

How they reach Application Insights: the Functions Python worker forwards a log record to the
host as its formatted message, level and category only (azure-functions-python-worker,
``azure_functions_worker/dispatcher.py`` ``on_logging``): ``extra`` is lost on that path. With
the app setting ``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`` (older workers:
``PYTHON_ENABLE_OPENTELEMETRY=true``) the worker calls
``azure.monitor.opentelemetry.configure_azure_monitor`` (``dispatcher.py``
``initialize_azure_monitor``, for the loggers under ``PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME``,
older workers ``PYTHON_AZURE_MONITOR_LOGGER_NAME``), which
adds OpenTelemetry's logging handler (azure-monitor-opentelemetry ``_configure.py``); the handler
turns every non-reserved attribute of the record, which is what ``extra`` sets, into a log
attribute (opentelemetry-instrumentation-logging ``handler.py``, ``_get_attributes``), and
the Azure Monitor exporter writes each attribute as a custom dimension, as a string of at most
8 KiB, dropping keys over 150 characters (azure-monitor-opentelemetry-exporter
``export/logs/_exporter.py`` ``_convert_log_to_envelope`` and ``_utils._filter_custom_properties``).
infra/ sets both settings. Dicts and lists are not valid attribute values, hence flat keys.

Untrusted text (model names and versions, messages, actors) is escaped: a newline or NUL in a
model name never reaches a log line or a dimension raw.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from shared.model import DecisionRecord, Rollout

log = logging.getLogger("autocanary.decisions")

MAX_VALUE = 1000  # characters of one string value
MAX_FIGURES = 40  # evidence figures per record
# Attributes of every logging.LogRecord: an ``extra`` key among these raises, so such a key is
# logged with a ``decision_`` prefix.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


def log_decisions(decisions: Sequence[DecisionRecord], rollouts: Sequence[Rollout]) -> None:
    """Log each decision (just committed) with the rollout it belongs to. Never raises."""
    by_id = {r.id: r for r in rollouts}
    for d in decisions:
        r = by_id.get(d.rollout_id)
        if r is None:
            continue
        try:
            fields = decision_fields(d, r)
            log.info(
                "decision %s %s #%s: %s -> %s, %s: %s",
                fields["endpoint"],
                fields["rollout_id"],
                fields["seq"],
                fields["phase_from"],
                fields["phase_to"],
                fields["reason"],
                fields.get("decision_message", ""),
                extra=fields,
            )
        except Exception:  # a log line is never worth failing a decision over
            log.exception("logging decision %s of %s failed", d.seq, d.rollout_id)


def decision_fields(d: DecisionRecord, r: Rollout) -> dict[str, str | int | float | bool]:
    """The flat, escaped fields of one decision's log record."""
    raw: dict[str, Any] = {
        "event": "decision",
        "rollout_id": d.rollout_id,
        "endpoint": r.endpoint,
        "model": r.model.name,
        "version": r.model.version,
        "seq": d.seq,
        "at": d.at.isoformat(),
        "phase_from": d.phase_from.value,
        "phase_to": d.phase_to.value,
        "stage_from": d.stage_from,
        "stage_to": d.stage_to,
        "reason": d.reason,
        "actor": d.actor,
        "message": d.message,
        "canary": r.canary,
        "baseline": r.baseline,
        "paused": r.paused,
    }
    raw.update(_figures(d.evidence))
    raw.update(_explained(d, r))
    out: dict[str, str | int | float | bool] = {}
    for key, value in raw.items():
        clean = _clean(value)
        if clean is None:
            continue
        name = safe_text(str(key), 150)
        out[f"decision_{name}" if name in _RESERVED else name] = clean
    return out


def _explained(d: DecisionRecord, r: Rollout) -> Mapping[str, Any]:
    """The presenter's fields (shared/explain.py ``decision_log_fields``: the metric, canary
    and baseline values with their counts, the threshold), imported when first used."""
    from shared import explain

    return explain.decision_log_fields(d, r)


def _figures(evidence: Mapping[str, Any], prefix: str = "", depth: int = 3) -> dict[str, Any]:
    """Numbers and short words of the evidence, up to three levels deep, keys joined with
    ``_`` (``judge_canary_errors``, ``judge_error_rate_log_e``), at most MAX_FIGURES."""
    out: dict[str, Any] = {}
    for key, value in evidence.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if depth > 1:
                for k, v in _figures(value, f"{name}_", depth - 1).items():
                    if len(out) < MAX_FIGURES:
                        out[k] = v
        elif _figure(value) and len(out) < MAX_FIGURES:
            out[name] = value
    return out


def _figure(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and len(value) <= 200


def _clean(value: Any) -> str | int | float | bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 63 else str(value)[:40]
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return safe_text(value)
    return None  # nested values are not valid log attributes


def safe_text(value: str, limit: int = MAX_VALUE) -> str:
    """One printable line: control characters (newline, NUL, ...) as ``\\xNN`` escapes."""
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in value[: limit * 2])
    return text if len(text) <= limit else text[: limit - 3] + "..."
