"""What a rollout's canary cost: instance-hours from its capacity record. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.model import Rollout, parse_time


def cost(r: Rollout, now: datetime) -> dict[str, Any]:
    """The canary's cost (shown in the evidence of the rollout's last decision): its
    instance-hours from its creation until its promotion (or the end of a rollout that did
    not promote), and the live count it was sized against."""
    cap = r.capacity
    if not cap:
        return {}
    out: dict[str, Any] = {"canary_instance_hours": round(instance_seconds(cap, now) / 3600.0, 4)}
    if cap.get("live"):
        out["live_instances"] = int(cap["live"])
    return out


def instance_seconds(cap: Mapping[str, Any], now: datetime) -> float:
    """Instance-seconds counted up to ``since``, plus the current count since then; nothing
    more once the canary was promoted (from then on it is the production deployment)."""
    if cap.get("promoted"):
        return float(cap.get("instance_s") or 0.0)
    since = parse_time(cap.get("since")) or now
    running = int(cap.get("count") or 0) * max(0.0, (now - since).total_seconds())
    return float(cap.get("instance_s") or 0.0) + running
