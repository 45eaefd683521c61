"""``autocanary``: watch and steer the rollouts of an autocanary app from a terminal.

Thin: each command reads its options, calls the API (autocanary_cli.client) or the app's
offline checks (autocanary_cli.offline), and prints what autocanary_cli.render builds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from autocanary_cli import config, offline, render, replies, watch
from autocanary_cli.client import ApiError, Client, Unreachable, path

app = typer.Typer(
    name="autocanary",
    help="Watch and steer autocanary rollouts (Azure ML online endpoints).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Output(StrEnum):
    text = "text"
    json = "json"


OutputOpt = Annotated[
    Output, typer.Option("--output", "-o", help="text (default) or json (the API's document)")
]
ReasonOpt = Annotated[
    str, typer.Option("--reason", "-r", help="why: kept in the rollout's decision record")
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="who acts (default: AUTOCANARY_ACTOR, the config file, the az CLI user, the OS user)",
    ),
]


def _checked_name(value: str | None) -> str | None:
    """A name that goes into a route or a filter: refused before any request when it is empty
    (or ``.``/``..``, which would name another route)."""
    if value is not None and not value.strip():
        raise typer.BadParameter("must not be empty")
    if value in (".", ".."):
        raise typer.BadParameter(f"{value!r} is not a name")
    return value


EndpointArg = Annotated[
    str, typer.Argument(help="the online endpoint's name", callback=_checked_name)
]


def _stdout() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def _stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


@app.callback()
def _options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option("--url", help="the app's URL, e.g. https://APP.azurewebsites.net"),
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="the API key (sent as x-functions-key)")
    ] = None,
) -> None:
    """Configuration: flags > environment (AUTOCANARY_URL, AUTOCANARY_KEY) > the config file
    (~/.config/autocanary/config.toml: url, key, actor)."""
    ctx.obj = {"url": url, "key": key}


@contextmanager
def _errors() -> Iterator[None]:
    """API and configuration errors: printed on stderr with a hint, and a non-zero exit."""
    err = _stderr()
    try:
        yield
    except ApiError as exc:
        err.print(
            f"[bold red]error[/] {exc.status} [bold]{escape(exc.code)}[/]: {escape(exc.message)}"
        )
        if exc.hint:
            err.print(f"[yellow]hint[/]: {escape(exc.hint)}")
        if exc.details:
            err.print(f"[dim]details: {escape(json.dumps(exc.details, sort_keys=True))}[/]")
        raise typer.Exit(watch.EXIT_API_ERROR) from None
    except Unreachable as exc:
        err.print(f"[bold red]error[/]: {escape(str(exc))}")
        err.print("[yellow]hint[/]: check --url / AUTOCANARY_URL and that the app is running")
        raise typer.Exit(watch.EXIT_UNREACHABLE) from None
    except config.ConfigError as exc:
        err.print(f"[bold red]error[/]: {escape(str(exc))}")
        raise typer.Exit(watch.EXIT_USAGE) from None
    except KeyboardInterrupt:
        raise typer.Exit(watch.EXIT_INTERRUPTED) from None


def _client(ctx: typer.Context) -> Client:
    obj = ctx.obj or {}
    return Client(config.resolve(obj.get("url"), obj.get("key")))


def _emit(doc: dict[str, Any], output: Output, text: Callable[[], Any]) -> None:
    if output is Output.json:
        print(json.dumps(doc, indent=2, sort_keys=False))
    else:
        _stdout().print(text())


# --------------------------------------------------------------------------- reads
@app.command()
def get(
    ctx: typer.Context,
    endpoint: EndpointArg,
    watch_: Annotated[
        bool,
        typer.Option("--watch", "-w", help="redraw until the rollout ends; exit code = outcome"),
    ] = False,
    interval: Annotated[float, typer.Option(help="seconds between reads with --watch")] = 2.0,
    timeout: Annotated[
        float | None, typer.Option(help="with --watch: give up after this many seconds (124)")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="with --watch: wait for this model version's rollout, then follow it"
        ),
    ] = None,
    output: OutputOpt = Output.text,
) -> None:
    """The endpoint's current (or latest) rollout: phase, stage, traffic, judge, decisions."""
    with _errors():
        client = _client(ctx)
        if watch_:
            code = watch.Watcher(
                client,
                endpoint,
                _stdout(),
                interval=max(0.1, interval),
                timeout=timeout,
                version=version,
                as_json=output is Output.json,
            ).run()
            raise typer.Exit(code)
        doc = watch.detail(client, endpoint)
        _emit(doc, output, lambda: render.rollout_view(doc, watch.utcnow()))


@app.command("list")
def list_(
    ctx: typer.Context,
    endpoint: Annotated[
        str | None, typer.Option(help="only this endpoint", callback=_checked_name)
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="only this model name", callback=_checked_name)
    ] = None,
    phase: Annotated[str | None, typer.Option(help="only this phase, e.g. Canary")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--ended", help="only active (or only ended) rollouts")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    continuation: Annotated[str | None, typer.Option(help="the next page's token")] = None,
    output: OutputOpt = Output.text,
) -> None:
    """Rollouts across endpoints, with their causes."""
    with _errors():
        params = {
            "endpoint": endpoint,
            "model": model,
            "phase": phase,
            "active": active,
            "limit": limit,
            "continuation": continuation,
        }
        doc = _client(ctx).get(path("rollouts"), params, shape=replies.ROLLOUT_PAGE)
        _emit(doc, output, lambda: render.rollouts_table(list(doc.get("rollouts") or [])))
        _next_page(doc, output)


@app.command()
def history(
    ctx: typer.Context,
    endpoint: EndpointArg,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    continuation: Annotated[str | None, typer.Option(help="the next page's token")] = None,
    output: OutputOpt = Output.text,
) -> None:
    """The endpoint's rollouts, past and current, each with its cause."""
    with _errors():
        params = {"limit": limit, "continuation": continuation}
        route = path("rollouts", endpoint, "history")
        doc = _client(ctx).get(route, params, shape=replies.ROLLOUT_PAGE)
        rollouts = list(doc.get("rollouts") or [])
        _emit(
            doc,
            output,
            lambda: render.rollouts_table(rollouts, f"History of {endpoint}", history=True),
        )
        _next_page(doc, output)


@app.command()
def why(
    ctx: typer.Context,
    endpoint: EndpointArg,
    rollout: Annotated[
        str | None,
        typer.Argument(
            help="a rollout id (default: the current or latest)", callback=_checked_name
        ),
    ] = None,
    output: OutputOpt = Output.text,
) -> None:
    """Why the rollout is where it is: the cause in words, the metric, numbers and threshold."""
    with _errors():
        client = _client(ctx)
        if rollout is None:
            doc = client.get(path("rollouts", endpoint), shape=replies.DETAIL)
        else:
            doc = client.get(path("rollouts", endpoint, "history", rollout), shape=replies.DETAIL)
        view = doc["rollout"]
        body = {"endpoint": endpoint, "id": view.get("id"), "cause": view.get("cause")}
        body["why"] = view.get("why")
        _emit(body, output, lambda: render.why_view(view))


@app.command()
def events(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    continuation: Annotated[str | None, typer.Option(help="the next page's token")] = None,
    output: OutputOpt = Output.text,
) -> None:
    """Model events that started no rollout, with the reason and what to do."""
    with _errors():
        client = _client(ctx)
        params = {"limit": limit, "continuation": continuation}
        try:
            doc = client.get(path("events"), {"ignored": True, **params}, shape=replies.EVENT_PAGE)
        except ApiError as exc:
            if exc.status != 404:
                raise
            # an app before /api/events
            doc = client.get(path("ignored-events"), params, shape=replies.EVENT_PAGE)
        _emit(doc, output, lambda: render.events_table(list(doc.get("events") or [])))
        _next_page(doc, output)


@app.command()
def health(ctx: typer.Context, output: OutputOpt = Output.text) -> None:
    """The app's own checks (store, policy, each rule's endpoint); exit 1 when one fails."""
    with _errors():
        doc = _client(ctx).get(path("health"), shape=replies.HEALTH, documents=(503,))
        _emit(doc, output, lambda: render.health_view(doc))
    if doc.get("status") != "ok":
        raise typer.Exit(1)


def _next_page(doc: dict[str, Any], output: Output) -> None:
    if output is Output.text and doc.get("continuation"):
        _stderr().print(f"[dim]more: --continuation {escape(str(doc['continuation']))}[/]")


# --------------------------------------------------------------------------- actions
def _act(ctx: typer.Context, endpoint: str, action: str, body: dict[str, Any], out: Output) -> None:
    with _errors():
        actor = config.resolve_actor(body.pop("actor"))
        route = path("rollouts", endpoint, action)
        doc = _client(ctx).post(route, {**body, "actor": actor.name}, shape=replies.ACTION_REPLY)
        _emit(doc, out, lambda: render.action_view(doc, actor.name, actor.source))


ACTIONS = {
    "pause": "Pause the rollout (progress stops; alerts and operators can still roll back).",
    "resume": "Resume a paused rollout (re-asserts its split and restarts the stage clock).",
    "rollback": "Roll back: all traffic to the baseline; the rollout ends RolledBack.",
    "abort": "Stop the rollout: the same way back as rollback, but it ends Aborted.",
    "retry": "Start the latest Failed or RolledBack version again (a new rollout id).",
    "cancel": "Drop the version waiting behind the current rollout.",
}


def _action_command(action: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        endpoint: EndpointArg,
        reason: ReasonOpt,
        actor: ActorOpt = None,
        output: OutputOpt = Output.text,
    ) -> None:
        _act(ctx, endpoint, action, {"reason": reason, "actor": actor}, output)

    command.__doc__ = ACTIONS[action]
    return command


for _name in ACTIONS:
    app.command(_name)(_action_command(_name))


@app.command()
def promote(
    ctx: typer.Context,
    endpoint: EndpointArg,
    reason: ReasonOpt,
    full: Annotated[
        bool, typer.Option("--full", help="skip the remaining stages: 100 % to the canary now")
    ] = False,
    actor: ActorOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Promote the current stage now (with --full: every remaining stage)."""
    body: dict[str, Any] = {"reason": reason, "actor": actor}
    if full:
        body["full"] = True
    _act(ctx, endpoint, "promote", body, output)


@app.command()
def start(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Argument(help="the registered model's name", callback=_checked_name)
    ],
    version: Annotated[str, typer.Argument(help="its version", callback=_checked_name)],
    reason: ReasonOpt,
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="the endpoint (default: the policy rule that matches)", callback=_checked_name
        ),
    ] = None,
    allow_downgrade: Annotated[
        bool, typer.Option(help="allow a version older than the live one")
    ] = False,
    actor: ActorOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Start a rollout by hand (when the model's registration event was lost)."""
    with _errors():
        who = config.resolve_actor(actor)
        body: dict[str, Any] = {"model": model, "version": version, "reason": reason}
        body["actor"] = who.name
        if endpoint:
            body["endpoint"] = endpoint
        if allow_downgrade:
            body["allow_downgrade"] = True
        doc = _client(ctx).post(path("rollouts"), body, shape=replies.ACTION_REPLY)
        _emit(doc, output, lambda: render.action_view(doc, who.name, who.source))


# --------------------------------------------------------------------------- offline
@app.command()
def lint(
    policy: Annotated[str, typer.Argument(help="a rollout policy file (YAML or JSON)")],
    output: OutputOpt = Output.text,
) -> None:
    """Validate a policy file offline, exactly as the app does (exit 1 when invalid)."""
    code, report = offline.lint(policy)
    if output is Output.text and not report["valid"]:
        _stderr().print(render.lint_view(report))
    else:
        _emit(report, output, lambda: render.lint_view(report))
    raise typer.Exit(code)


_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


@app.command(context_settings=_PASS_THROUGH, add_help_option=False)
def simulate(ctx: typer.Context) -> None:
    """Play a scenario through the engine: simulate SCENARIO.json [--trace] [--seed N]."""
    raise typer.Exit(offline.simulate(["run", *ctx.args]))


@app.command("what-if", context_settings=_PASS_THROUGH, add_help_option=False)
def what_if(ctx: typer.Context) -> None:
    """How a policy treats good and bad versions: what-if --policy P --series S.json [...]."""
    raise typer.Exit(offline.simulate(["what-if", *ctx.args]))


def main() -> None:
    app()
