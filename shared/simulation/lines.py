"""What the simulator prints: durations, decision lines; and the alert bodies it posts. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.inputs import COMMON_ALERT_SCHEMA
from shared.model import DecisionRecord, Rollout

ALERTS_PREFIX = (
    "/subscriptions/00000000-0000-0000-0000-000000000000"
    "/providers/Microsoft.AlertsManagement/alerts"
)

Line = dict[str, Any]


def fmt_duration(seconds: float) -> str:
    """``3725`` -> ``1h02m05s``; ``300`` -> ``5m``; ``0`` -> ``0s``."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    parts = []
    if h:
        parts.append(f"{h}h")
    if m or (h and sec):
        parts.append(f"{m:02d}m" if h else f"{m}m")
    if sec or not parts:
        parts.append(f"{sec:02d}s" if parts else f"{sec}s")
    return "".join(parts)


def decision_line(rec: DecisionRecord, r: Rollout, start: datetime) -> Line:
    traffic: dict[str, int] | None = None
    mirror: dict[str, int] | None = None
    for e in rec.effects:
        if e.get("kind") == "set_traffic":
            traffic, mirror = dict(e["traffic"]), dict(e["mirror"])
    t = (rec.at - start).total_seconds()
    line: Line = {
        "t": fmt_duration(t),
        "t_s": t,
        "at": rec.at.isoformat(),
        "rollout": rec.rollout_id,
        "model": r.model.asset_id,
        "seq": rec.seq,
        "phase_from": rec.phase_from.value,
        "phase_to": rec.phase_to.value,
        "stage_from": rec.stage_from,
        "stage_to": rec.stage_to,
        "reason": rec.reason,
        "message": rec.message,
        "actor": rec.actor,
        "traffic": traffic,
        "mirror": mirror,
        "evidence": dict(rec.evidence),
    }
    return line


def alert_body(target: str, d: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A common-alert-schema body, as an Azure Monitor action group posts it
    (learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema)."""
    dims = [{"name": "deployment", "value": d["deployment"]}] if d.get("deployment") else []
    fired = now.isoformat()
    return {
        "schemaId": COMMON_ALERT_SCHEMA,
        "data": {
            "essentials": {
                "alertId": f"{ALERTS_PREFIX}/{d['rule']}",
                "alertRule": d["rule"],
                "severity": "Sev1",
                "signalType": "Metric",
                "monitorCondition": d["status"],
                "alertTargetIDs": [target],
                "firedDateTime": fired,
            },
            "alertContext": {
                "conditionType": "SingleResourceMultipleMetricCriteria",
                "condition": {
                    "windowSize": "PT5M",
                    "allOf": [
                        {
                            "metricName": "RequestsPerMinute",
                            "dimensions": dims,
                            "operator": "GreaterThan",
                            "threshold": "0",
                            "metricValue": 1.0,
                        }
                    ],
                },
            },
        },
    }
