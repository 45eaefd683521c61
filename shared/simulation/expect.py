"""A scenario's ``expect`` block checked against a run: a list of plain failure messages. Pure."""

from __future__ import annotations

from shared.simulation.recorder import RunResult
from shared.simulation.scenario import Expect


def unmet(expect: Expect, result: RunResult) -> list[str]:
    """Each expectation the run did not meet, in words (empty: all met)."""
    s = result.summary
    out: list[str] = []
    if expect.phase is not None and s["phase"] != expect.phase:
        out.append(f"phase: expected {expect.phase}, got {s['phase']}")
    if expect.reason is not None and s["reason"] != expect.reason:
        out.append(f"reason: expected {expect.reason}, got {s['reason']}")
    duration = s.get("duration_s")
    if expect.max_duration is not None and (duration is None or duration > expect.max_duration):
        out.append(f"duration: expected at most {expect.max_duration:g}s, got {duration}")
    if expect.min_duration is not None and (duration is None or duration < expect.min_duration):
        out.append(f"duration: expected at least {expect.min_duration:g}s, got {duration}")
    if expect.invariants and s["invariant_violations"]:
        first = result.violations[0] if result.violations else {}
        out.append(
            f"invariants: {s['invariant_violations']} violation(s), first {first.get('rule')} "
            f"at {first.get('t')}: {first.get('message')}"
        )
    reasons = result.reasons
    i = 0
    for wanted in expect.reasons:
        while i < len(reasons) and reasons[i] != wanted:
            i += 1
        if i >= len(reasons):
            out.append(f"reasons: {wanted} not seen (in order) among {sorted(set(reasons))}")
            break
        i += 1
    for banned in expect.absent_reasons:
        if banned in reasons:
            out.append(f"reasons: {banned} should never appear")
    if expect.refused is not None and s["refused"] != dict(expect.refused):
        out.append(f"refused: expected {dict(expect.refused)}, got {s['refused']}")
    if expect.deployments is not None:
        names = sorted(d["name"] for d in s["deployments"])
        if names != sorted(expect.deployments):
            out.append(f"deployments: expected {sorted(expect.deployments)}, got {names}")
    if expect.traffic is not None:
        wanted_traffic = {k: v for k, v in expect.traffic.items() if v > 0}
        if s["traffic"] != wanted_traffic:
            out.append(f"traffic: expected {wanted_traffic}, got {s['traffic']}")
    if expect.mirror is not None:
        wanted_mirror = {k: v for k, v in expect.mirror.items() if v > 0}
        if s["mirror"] != wanted_mirror:
            out.append(f"mirror: expected {wanted_mirror}, got {s['mirror']}")
    if expect.instances is not None:
        have = {d["name"]: d.get("instance_count") for d in s["deployments"]}
        for name, count in expect.instances.items():
            if have.get(name) != count:
                out.append(f"instances: expected {name} on {count}, got {have.get(name)}")
    if expect.autoscaled is not None and s["autoscaled"] != sorted(expect.autoscaled):
        out.append(f"autoscaled: expected {sorted(expect.autoscaled)}, got {s['autoscaled']}")
    if expect.rollouts is not None and len(s["rollouts"]) != expect.rollouts:
        out.append(f"rollouts: expected {expect.rollouts}, got {len(s['rollouts'])}")
    published = s["events_published"]
    for kind, limits, exact in (
        ("events", expect.events, True),
        ("events_at_most", expect.events_at_most, False),
    ):
        for name, count in (limits or {}).items():
            seen = sum(1 for e in published if e == name or e.endswith("." + name))
            if (seen != count) if exact else (seen > count):
                out.append(
                    f"{kind}: expected {'' if exact else 'at most '}{count} {name}, got {seen}"
                )
    if expect.settles and not s.get("settled", False):
        out.append(
            f"settles: the last rollout is {s['phase']} (paused {s['paused']}, allowed "
            f"{s.get('allowed_actions')}): neither ended nor waiting on an allowed action"
        )
    return out
