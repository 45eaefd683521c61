"""What a person sees: rich renderables built from the API's documents (pure, no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from autocanary_cli import fmt

PHASE_STYLE = {
    "Succeeded": ("✔", "bold green"),
    "RolledBack": ("✖", "bold red"),
    "Failed": ("✖", "bold red"),
    "Aborted": ("✖", "bold red"),
    "Superseded": ("↷", "bold yellow"),
    "RollingBack": ("↺", "bold red"),
}
LAST_DECISIONS = 6


def model_version(view: dict[str, Any]) -> str:
    """``fraud:7``: the views carry ``model`` and ``version``; a full rollout document carries
    ``model`` as ``{"name", "version", ...}``."""
    model = view.get("model")
    if isinstance(model, dict):
        return f"{model.get('name', '?')}:{model.get('version', '?')}"
    return f"{model or '?'}:{view.get('version', '?')}"


def phase_text(view: dict[str, Any]) -> Text:
    phase = str(view.get("phase") or "?")
    if view.get("paused"):
        icon, style = "॥", "bold yellow"
    else:
        icon, style = PHASE_STYLE.get(phase, ("◌", "bold cyan"))
    text = Text(f"{icon} {phase}", style=style)
    if view.get("paused"):
        text.append(" (paused", style="yellow")
        if view.get("pause_reason"):
            text.append(f": {view['pause_reason']}", style="yellow")
        text.append(")", style="yellow")
    return text


def stage_text(view: dict[str, Any]) -> str:
    timing = view.get("stage_timing") or {}
    index = timing.get("index", view.get("stage"))
    count = timing.get("count")
    weight = timing.get("weight", view.get("weight"))
    policy = view.get("policy")
    stages = policy.get("stages") if isinstance(policy, dict) else None
    if isinstance(stages, list):  # a full rollout document: its policy has the stages
        count = len(stages) if count is None else count
        stage = stages[index] if isinstance(index, int) and 0 <= index < len(stages) else None
        if weight is None and isinstance(stage, dict):
            weight = stage.get("weight")
    if not isinstance(index, int) or index < 0:
        name = timing.get("name") or (
            "shadow" if view.get("phase") == "Shadowing" else "before live traffic"
        )
        return f"{name} · weight 0 %"
    of = f" of {count}" if isinstance(count, int) else ""
    return f"stage {index + 1}{of} · weight {weight if weight is not None else '-'} %"


def timing_text(view: dict[str, Any], now: datetime) -> str:
    timing = view.get("stage_timing") or {}
    started = timing.get("started_at") if timing else view.get("stage_since")
    in_stage = fmt.since(started or (None if timing else view.get("phase_since")), now)
    if in_stage is None:
        in_stage = timing.get("time_in_stage_s")
    left = fmt.until(timing.get("deadline"), now)
    if left is None:
        left = timing.get("time_left_s")
    if fmt.ended(view):
        return f"ended {fmt.stamp(view.get('ended_at') or view.get('updated_at'))}"
    text = f"{fmt.duration(in_stage)} in stage"
    if left is not None:
        text += f", {fmt.duration(left)} left"
        if timing.get("deadline"):
            text += f" (deadline {fmt.clock(timing['deadline'])} UTC)"
    return text


def _add(table: Table, *cells: RenderableType | str) -> None:
    """A row whose text cells are shown as they are: what the server says (a reason an
    operator typed, a decision message) is never read as rich markup ("[/]" would end the
    render with a MarkupError; "[link=...]" would hide where a link goes)."""
    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def _kv(rows: list[tuple[str, RenderableType | str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        _add(table, key, value)
    return table


def traffic_table(view: dict[str, Any]) -> Table:
    traffic = view.get("traffic") or {}
    if "wanted" not in traffic:  # an older API: the split autocanary asked for only
        traffic = {"wanted": traffic, "wanted_mirror": view.get("mirror") or {}}
    wanted = traffic.get("wanted") or {}
    live = traffic.get("live")
    wanted_mirror = traffic.get("wanted_mirror") or {}
    live_mirror = traffic.get("live_mirror")
    in_sync = traffic.get("in_sync")
    title = "Traffic"
    if in_sync is True:
        title += " (live = wanted ✔)"
    elif in_sync is False:
        title += " (live differs from wanted ⚠)"
    known = live is not None or live_mirror is not None
    if not known:
        title += " (wanted; the live split was not read)"
    table = Table(title=title, title_justify="left", title_style="bold", box=None)
    table.add_column("deployment")
    table.add_column("wanted", justify="right")
    if known:
        table.add_column("live", justify="right")
    mirrored = bool(wanted_mirror or live_mirror)
    if mirrored:  # shadow traffic: copies of requests, answered by nobody
        table.add_column("mirror wanted", justify="right")
        if known:
            table.add_column("mirror live", justify="right")
    deployments: list[str] = []
    for source in (wanted, live or {}, wanted_mirror, live_mirror or {}):
        deployments += [d for d in source if d not in deployments]
    for dep in deployments:
        role = ""
        if dep == view.get("canary"):
            role = " (canary)"
        elif dep == view.get("baseline"):
            role = " (baseline)"
        cells = [dep + role, _pct(wanted.get(dep))]
        if known:
            cells.append("?" if live is None else _pct(live.get(dep)))
        if mirrored:
            cells.append(_pct(wanted_mirror.get(dep)))
            if known:
                cells.append("?" if live_mirror is None else _pct(live_mirror.get(dep)))
        _add(table, *cells)
    return table


def _pct(value: Any) -> str:
    return f"{value} %" if isinstance(value, int | float) else "0 %"


STATE_STYLE = {
    "clear": "green",
    "rollback": "bold red",
    "hold": "yellow",
    "not_measurable": "dim",
    "no_data": "dim",
}


def readings_table(readings: list[dict[str, Any]]) -> Table:
    table = Table(
        title="Judge (latest reading)", title_justify="left", title_style="bold", box=None
    )
    table.add_column("metric", no_wrap=True)
    table.add_column("canary", justify="right", no_wrap=True)
    table.add_column("baseline", justify="right", no_wrap=True)
    table.add_column("toward rollback", no_wrap=True)
    table.add_column("toward clear", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for r in readings:
        unit = r.get("unit")
        state = str(r.get("state") or "-")
        _add(
            table,
            fmt.metric_name(r.get("metric")),
            fmt.number(r.get("canary"), unit),
            fmt.number(r.get("baseline"), unit),
            Text(fmt.bar(r.get("rollback_progress")), style="red")
            + Text(" " + fmt.progress_pct(r.get("rollback_progress"))),
            Text(fmt.bar(r.get("clear_progress")), style="green")
            + Text(" " + fmt.progress_pct(r.get("clear_progress"))),
            Text(state, style=STATE_STYLE.get(state, "")),
        )
    if not readings:
        _add(table, "no reading yet", "-", "-", fmt.bar(None), fmt.bar(None), "no_data")
    return table


def decisions_table(decisions: list[dict[str, Any]], last: int = LAST_DECISIONS) -> Table:
    table = Table(title="Last decisions", title_justify="left", title_style="bold", box=None)
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("phase", no_wrap=True)
    table.add_column("reason", no_wrap=True)
    table.add_column("actor", no_wrap=True)
    table.add_column("message", overflow="fold")  # the one column that wraps
    for d in decisions[-last:]:
        phase = str(d.get("phase_to") or "")
        if d.get("phase_from") and d.get("phase_from") != d.get("phase_to"):
            phase = f"{d['phase_from']} → {phase}"
        _add(
            table,
            fmt.clock(d.get("at")),
            phase,
            str(d.get("reason") or ""),
            str(d.get("actor") or ""),
            str(d.get("message") or ""),
        )
    return table


def rollout_view(doc: dict[str, Any], now: datetime) -> RenderableType:
    """The ``get`` view of a detail document (GET /api/rollouts/{endpoint})."""
    view: dict[str, Any] = doc.get("rollout") or {}
    rows: list[tuple[str, RenderableType | str]] = [
        ("Endpoint", str(doc.get("endpoint") or view.get("endpoint") or "")),
        ("Rollout", f"{view.get('id', '')}  {model_version(view)}"),
        ("Deployments", f"{view.get('baseline') or '-'} → {view.get('canary') or '-'} (canary)"),
        ("Phase", phase_text(view)),
        *([] if fmt.ended(view) else [("Stage", stage_text(view))]),
        ("Time", timing_text(view, now)),
        ("Cause", Text(str(view.get("cause") or view.get("message") or ""))),
    ]
    actions = view.get("allowed_actions", doc.get("allowed_actions"))
    if actions:
        rows.append(("Actions", ", ".join(str(a) for a in actions)))
    if doc.get("waiting"):
        rows.append(("Waiting", _model(doc["waiting"])))
    parts: list[RenderableType] = [_kv(rows), Text(""), traffic_table(view), Text("")]
    readings = view.get("readings")
    if not isinstance(readings, list):
        readings = doc.get("readings")
    if not isinstance(readings, list):  # an API without the judge's readings per metric
        readings = []
    parts += [readings_table([r for r in readings if isinstance(r, dict)]), Text("")]
    parts.append(decisions_table(list(doc.get("decisions") or [])))
    return Group(*parts)


def rollouts_table(
    rollouts: list[dict[str, Any]], title: str | None = None, *, history: bool = False
) -> Table:
    """``list`` (by endpoint) and ``history`` (one endpoint, by rollout id): one line per
    rollout, with its cause."""
    table = Table(title=title, title_justify="left", box=None)
    table.add_column("id" if history else "endpoint", no_wrap=True)
    for column in ("model:version", "phase", "stage", "updated (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("cause", overflow="fold", ratio=1)
    for view in rollouts:
        stage = view.get("stage")
        weight = view.get("weight")
        where = "-" if not isinstance(stage, int) or stage < 0 else f"{stage + 1} ({weight or 0} %)"
        _add(
            table,
            str(view.get("id" if history else "endpoint") or ""),
            model_version(view),
            phase_text(view),
            where,
            fmt.short(view.get("updated_at")),
            str(view.get("cause") or view.get("message") or ""),
        )
    return table


def why_view(view: dict[str, Any]) -> RenderableType:
    """``why``: the cause in words, then the structured evidence."""
    why: dict[str, Any] = view.get("why") or {}
    rows: list[tuple[str, RenderableType | str]] = [
        ("Rollout", f"{view.get('id', '')}  {model_version(view)}"),
        ("Phase", phase_text(view)),
        ("Reason", str(why.get("reason") or view.get("reason") or "-")),
        ("By", f"{why.get('actor') or '-'} at {fmt.stamp(why.get('at'))}"),
    ]
    if why.get("metric"):
        rows.append(("Metric", fmt.metric_name(why["metric"])))
        for side in ("canary", "baseline"):
            reading = why.get(side) or {}
            text = fmt.number(reading.get("value"), reading.get("unit"))
            if isinstance(reading.get("requests"), int):
                text += f" ({reading.get('errors', 0)}/{reading['requests']} requests)"
            rows.append((side.capitalize(), text))
        threshold = why.get("threshold") or {}
        if threshold.get("value") is not None:
            kind = threshold.get("kind") or ""
            value = fmt.number(threshold.get("value"), threshold.get("unit"))
            rows.append(("Threshold", f"{value} ({kind})" if kind else value))
        log_e, log_e_threshold = threshold.get("log_e"), threshold.get("log_e_threshold")
        if isinstance(log_e, int | float) and isinstance(log_e_threshold, int | float):
            rows.append(("Evidence", f"log e-value {log_e:.2f} (threshold {log_e_threshold:.2f})"))
    if why.get("since"):
        rows.append(("Since", fmt.stamp(why["since"])))
    minutes = why.get("minutes_used") or []
    if minutes:
        rows.append(
            ("Minutes used", f"{len(minutes)} ({fmt.clock(minutes[0])}..{fmt.clock(minutes[-1])})")
        )
    if why.get("message") and why.get("message") != view.get("cause"):
        rows.append(("Message", str(why["message"])))
    cause = Text(str(view.get("cause") or view.get("message") or ""), style="bold")
    return Group(cause, Text(""), _kv(rows))


def _model(entry: Any) -> str:
    """``fraud:8`` of a waiting entry (``{"model": {"name", "version"}, ...}``)."""
    if not isinstance(entry, dict):
        return "?"
    model: dict[str, Any] = entry.get("model") or entry
    return f"{model.get('name', '?')}:{model.get('version', '?')}"


def action_view(doc: dict[str, Any], actor: str, actor_source: str) -> RenderableType:
    """The reply of an action or a start (compact: endpoint, action, outcome, rollout,
    decision, waiting, cancelled)."""
    view: dict[str, Any] = doc.get("rollout") or {}
    decision: dict[str, Any] = doc.get("decision") or {}
    head = Text(f"{doc.get('action', 'done')}: ", style="bold")
    head.append(f"{view.get('endpoint') or doc.get('endpoint') or ''}")
    outcome = doc.get("outcome")
    if view:
        head.append(f" {model_version(view)} is now ")
        head.append_text(phase_text(view))
    elif outcome:
        head.append(f" {outcome}")
    rows: list[tuple[str, RenderableType | str]] = [("Actor", f"{actor} ({actor_source})")]
    if view and outcome and outcome != "done":
        rows.append(("Outcome", str(outcome)))
    if decision:
        rows.append(("Decision", f"{decision.get('reason', '')}: {decision.get('message', '')}"))
    if view.get("cause"):
        rows.append(("Cause", str(view["cause"])))
    if doc.get("waiting"):
        rows.append(("Waiting", f"{_model(doc['waiting'])} (starts when this rollout ends)"))
    if doc.get("cancelled"):
        rows.append(("Cancelled", _model(doc["cancelled"])))
    if view.get("id"):
        rows.append(("Rollout", str(view["id"])))
    return Group(head, _kv(rows))


def events_table(events: list[dict[str, Any]]) -> Table:
    """``events``: model events that started no rollout, with the reason and the hint."""
    table = Table(box=None)
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("model:version", no_wrap=True)
    table.add_column("reason", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("what to do", overflow="fold")
    for e in events:
        _add(
            table,
            fmt.stamp(e.get("at")).removesuffix(" UTC"),
            _model(e),
            str(e.get("reason") or ""),
            str(e.get("detail") or ""),
            str(e.get("hint") or ""),
        )
    return table


def health_view(report: dict[str, Any]) -> RenderableType:
    """``health``: each check of the app with what it found, and what to do when it failed."""
    table = Table(box=None)
    for column in ("", "check", "found", "what to do", "ms"):
        table.add_column(column, overflow="fold", no_wrap=column in ("", "ms"))
    for c in report.get("checks") or []:
        ok = bool(c.get("ok"))
        _add(
            table,
            Text("✔", style="green") if ok else Text("✖", style="bold red"),
            str(c.get("name") or ""),
            str(c.get("detail") or ""),
            "" if ok else str(c.get("hint") or ""),
            f"{float(c.get('took_ms') or 0):.0f}",
        )
    failing = list(report.get("failing") or [])
    head = (
        Text("✔ healthy", style="bold green")
        if not failing
        else Text(f"✖ failing: {', '.join(map(str, failing))}", style="bold red")
    )
    return Group(head, table)


def lint_view(report: dict[str, Any]) -> RenderableType:
    """``lint``: OK with the rules, or the offending field and why."""
    if not report.get("valid"):
        error = report.get("error") or {}
        text = Text("✖ invalid policy ", style="bold red")
        text.append(f"{report.get('file')}: {error.get('message')}", style="red")
        return text
    rules = list(report.get("rules") or [])
    head = Text(f"✔ policy OK: {report.get('file')}, {len(rules)} rule(s)", style="bold green")
    table = Table(box=None)
    for column in ("rule", "model", "endpoint", "shadow", "stages (%)", "on deadline"):
        table.add_column(column, overflow="fold")
    for r in rules:
        tags = "".join(f" {k}={v}" for k, v in (r.get("tags") or {}).items())
        _add(
            table,
            str(r.get("name")),
            f"{r.get('model')}{tags}",
            str(r.get("endpoint")),
            f"{r.get('shadow_percent', 0)} %",
            " → ".join(str(w) for w in r.get("stages") or []),
            str(r.get("on_deadline")),
        )
    return Group(head, table)
