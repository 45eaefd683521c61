"""What a notice says: built from a lifecycle event (with its cause and numbers) or from an
ignored model. Pure: the renderers (``teams``, ``slack``) turn a :class:`Notice` into a
payload; untrusted text (model names, tags, messages) is escaped there, per format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from shared import provisioning_advice
from shared import reasons as R
from shared.model import ModelRef, Phase, Rollout
from shared.notify.routes import Routes

Severity = Literal["info", "good", "warning", "attention"]

# Lifecycle events that notify, and how: (notice kind, severity). RolloutRolledBack, Aborted and
# Superseded end a rollback that RolloutRollingBack already announced with its cause.
LIFECYCLE: dict[str, tuple[str, Severity]] = {
    R.EV_STARTED: ("started", "info"),
    R.EV_STAGE: ("stage_advanced", "good"),
    R.EV_PROMOTED: ("promoted", "good"),
    R.EV_PAUSED: ("paused", "warning"),
    R.EV_ROLLING_BACK: ("rolled_back", "attention"),
    R.EV_SUCCEEDED: ("succeeded", "good"),
    R.EV_FAILED: ("failed", "attention"),
}
IGNORED = "ignored"
MAX_TEXT = 1000  # characters of one text field in a notice (the cause, a message)


@dataclass(frozen=True)
class Notice:
    """One message for people: a title, the cause in words, the numbers, what to do, a link."""

    kind: str  # started, stage_advanced, promoted, paused, rolled_back, succeeded, failed, ignored
    title: str
    cause: str
    severity: Severity
    facts: tuple[tuple[str, str], ...] = ()
    advice: str = ""
    link: str | None = None
    routes: Routes = ()  # the rule's own channels, besides the app-wide ones
    key: str = ""  # identifies the notice in logs (rollout id and event, or event id)


def lifecycle_notice(
    event_type: str, data: Mapping[str, Any], r: Rollout, *, public_url: str | None = None
) -> Notice | None:
    """The notice for a lifecycle event of ``r`` (the rollout as the decision left it), or None
    when the event is not one people are told about."""
    spec = LIFECYCLE.get(event_type)
    if spec is None:
        return None
    kind, severity = spec
    why = data.get("why") if isinstance(data.get("why"), Mapping) else {}
    assert isinstance(why, Mapping)
    cause = one_line(data.get("cause")) or one_line(r.message) or one_line(r.reason)
    model = f"{r.model.name}:{r.model.version}"
    title = _title(kind, event_type, data, r, model)
    # Most telling first: Slack shows at most 10 fields.
    facts: list[tuple[str, str]] = [
        ("Endpoint", r.endpoint),
        ("Model", model),
        ("Stage", stage_text(r)),
    ]
    facts += _numbers(why)
    reason = str(data.get("reason") or why.get("reason") or r.reason or "")
    if reason:
        facts.append(("Reason", reason))
    actor = str(why.get("actor") or "")
    if actor and actor != "engine":
        facts.append(("By", actor))
    code = provisioning_advice.azure_error_code(r.decisive)
    if code:
        facts.append(("Azure error", code))
    facts += [("Canary", r.canary or "-"), ("Baseline", r.baseline or "-")]
    return Notice(
        kind=kind,
        title=title,
        cause=cause,
        severity=severity,
        facts=tuple(facts),
        advice=_advice(kind, r, reason),
        link=dashboard_link(public_url, r.endpoint),
        routes=r.policy.notify,
        key=f"{r.id}/{event_type}/{r.seq}",
    )


def ignored_notice(
    model: ModelRef,
    reason: str,
    detail: str,
    *,
    endpoint: str | None = None,
    routes: Routes = (),
    public_url: str | None = None,
) -> Notice:
    """The notice for a registered model that started no rollout, with what to do about it."""
    asset = f"{model.name}:{model.version}"
    facts = [("Model", asset), ("Reason", reason)]
    if endpoint:
        facts.insert(1, ("Endpoint", endpoint))
    if model.tags:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())[:10])
        facts.append(("Tags", one_line(shown, 300)))
    return Notice(
        kind=IGNORED,
        title=f"Not rolled out: {asset}",
        cause=one_line(f"{_IGNORED_WORDS.get(reason, 'Ignored')}: {detail}"),
        severity="warning",
        facts=tuple(facts),
        advice=_IGNORED_ADVICE.get(reason, ""),
        link=dashboard_link(public_url, endpoint) if endpoint else dashboard_link(public_url),
        routes=routes,
        key=f"event/{model.event_id}",
    )


def dashboard_link(public_url: str | None, endpoint: str | None = None) -> str | None:
    """The dashboard page of ``endpoint`` (``GET /api/dashboard?endpoint=``), if the app's
    public URL is known."""
    if not public_url:
        return None
    base = public_url.rstrip("/") + "/api/dashboard"
    return f"{base}?endpoint={quote(endpoint, safe='')}" if endpoint else base


def stage_text(r: Rollout) -> str:
    """Where the rollout is, in words: ``stage 2 of 4 (25 %)``, ``shadow (20 % mirrored)``."""
    stages = r.policy.stages
    if r.phase is Phase.CANARY and 0 <= r.stage < len(stages):
        return f"stage {r.stage + 1} of {len(stages)} ({stages[r.stage].weight} %)"
    if r.phase is Phase.SHADOWING:
        return f"shadow ({r.policy.shadow_percent} % mirrored)"
    return r.phase.value + (" (paused)" if r.paused and not r.phase.terminal else "")


# ------------------------------------------------------------------------------ internals


def _title(kind: str, event_type: str, data: Mapping[str, Any], r: Rollout, model: str) -> str:
    where = f"{model} on {r.endpoint}"
    if kind == "rolled_back":
        outcome = str(data.get("outcome") or "")
        verb = {
            Phase.ABORTED.value: "Aborting",
            Phase.SUPERSEDED.value: "Superseded",
            Phase.FAILED.value: "Rolling back (will end Failed)",
        }.get(outcome, "Rolling back")
        return f"{verb}: {where}"
    if kind == "stage_advanced":
        weight = data.get("weight")
        return f"Stage advanced: {where}" + (f" now at {weight} %" if weight is not None else "")
    return {
        "started": f"Rollout started: {where}",
        "promoted": f"Promoted: {where} serves 100 %, watching",
        "paused": f"Paused: {where}",
        "succeeded": f"Succeeded: {where}",
        "failed": f"Failed: {where}",
    }.get(kind, f"{event_type}: {where}")


def _numbers(why: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The judge's numbers from ``why`` (shared/explain.py): canary, baseline, threshold."""
    out: list[tuple[str, str]] = []
    metric = why.get("metric")
    label = str(metric).replace("_", " ") if metric else "value"
    for side in ("canary", "baseline"):
        shown = _side(why.get(side))
        if shown:
            out.append((f"{side.capitalize()} {label}", shown))
    threshold = why.get("threshold")
    if isinstance(threshold, Mapping) and threshold.get("value") is not None:
        kind = threshold.get("kind")
        out.append(
            (
                f"Threshold{f' ({kind})' if kind else ''}",
                _value(threshold.get("value"), threshold.get("unit")),
            )
        )
    since = why.get("since")
    if since:
        out.append(("Since", str(since)))
    return out


def _side(raw: Any) -> str:
    if not isinstance(raw, Mapping) or raw.get("value") is None:
        return ""
    text = _value(raw.get("value"), raw.get("unit"))
    errors, requests = raw.get("errors"), raw.get("requests")
    if isinstance(errors, int) and isinstance(requests, int):
        text += f" ({errors}/{requests} requests)"
    elif isinstance(requests, int):
        text += f" ({requests} requests)"
    return text


def _value(value: Any, unit: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return one_line(str(value), 100)
    unit = str(unit or "")
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:g}{f' {unit}' if unit else ''}"


_PAUSE_ADVICE = {
    R.STAGE_DEADLINE: "The judge could neither clear nor reject the canary before the stage's "
    "max_duration. Check the numbers on the dashboard, then promote to go on, rollback to go "
    "back, or resume to judge the stage again.",
    R.SHADOW_DEADLINE: "The shadow reached its max_duration without the judge clearing it. "
    "Promote to send live traffic anyway, rollback to stop, or resume to judge it again.",
    R.MANUAL_CHANGE: "Traffic or deployments were changed outside autocanary. Resume "
    "re-asserts the rollout's split; rollback or abort ends the rollout.",
    R.DEPLOYMENT_MISSING: "A deployment the rollout needs is gone. Resume provisions the canary "
    "again; abort ends the rollout.",
    R.ROLLBACK_IMPOSSIBLE: "The deployments a rollback would restore are gone or being deleted, "
    "so the new version keeps serving. Resume finishes the rollout on the new version.",
    R.WATCH_NO_DATA: "The watch window is over but its guardrails read no metrics for as long "
    "again, so the old deployment is kept. Resume finishes the rollout without them (the old "
    "deployment is deleted); rollback goes back to it.",
    R.PAUSED_BY_OPERATOR: "Paused by an operator. Protection stays on (alerts and the judge "
    "still roll back); resume to continue.",
}


def _advice(kind: str, r: Rollout, reason: str) -> str:
    from shared.machine import allowed_actions

    allowed = allowed_actions(r)
    tail = f" Allowed now: {', '.join(allowed)}." if allowed else ""
    if kind == "paused":
        key = r.pause_reason or reason
        return _PAUSE_ADVICE.get(key, "Resume to continue.") + tail
    if kind == "failed":
        specific = provisioning_advice.advice(provisioning_advice.azure_error_code(r.decisive))
        return (f"{specific} " if specific else "") + (
            "See the decisions on the dashboard (a failed provisioning carries Azure's error "
            "and the deployment's logs); retry the version once it is fixed."
        )
    if kind == "rolled_back":
        return "Traffic is going back to the baseline; nothing to do. Retry the version once fixed."
    return ""


_IGNORED_WORDS = {
    R.NO_MATCHING_RULE: "No policy rule matches",
    R.OPTED_OUT: "Opted out by tag",
    R.INVALID_TAG_OVERRIDE: "Invalid autocanary tag",
    R.VERSION_ALREADY_LIVE: "Already live",
    R.SAME_VERSION: "Already rolling out",
    R.OLDER_THAN_LIVE: "Older than the live version",
    R.NOT_NEWER: "Not newer than the current rollout",
}
_IGNORED_ADVICE = {
    R.NO_MATCHING_RULE: "Add a rule for this model to the policy (or fix a rule's match), then "
    "start it with POST /api/rollouts.",
    R.OPTED_OUT: "Nothing to do, unless the tag was a mistake: then start it with "
    "POST /api/rollouts.",
    R.INVALID_TAG_OVERRIDE: "Fix the model's autocanary.* tags (the rule's allow_tag_overrides "
    "lists what may change), then start it with POST /api/rollouts.",
    R.OLDER_THAN_LIVE: "A downgrade needs an explicit start: POST /api/rollouts with "
    '"allow_downgrade": true.',
    R.NOT_NEWER: "A newer version is already rolling out or waiting; nothing to do.",
    R.VERSION_ALREADY_LIVE: "Nothing to do: the endpoint already serves this version.",
    R.SAME_VERSION: "Nothing to do: this version is already rolling out.",
}


def one_line(value: Any, limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    # One line, no control characters (a newline or NUL in a model name stays visible as
    # an escape, never breaks the card or a log line).
    text = " ".join(str(value)[: limit * 2].split())
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def facts_dict(facts: Sequence[tuple[str, str]]) -> dict[str, str]:
    return dict(facts)
