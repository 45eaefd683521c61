"""``get ENDPOINT --watch``: redraw the rollout until it ends; exit with how it ended."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from autocanary_cli import fmt, render
from autocanary_cli.client import ApiError, Client, Unreachable, path
from autocanary_cli.replies import DETAIL

# Exit codes (README "CLI"): how a watched rollout ended, and why a command failed.
EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
OUTCOME_EXIT = {"Succeeded": 0, "RolledBack": 10, "Failed": 11, "Aborted": 12, "Superseded": 13}
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130


def detail(client: Client, endpoint: str, rollout_id: str | None = None) -> dict[str, Any]:
    """The endpoint's current rollout, or the one with ``rollout_id`` once a newer one runs."""
    doc = client.get(path("rollouts", endpoint), shape=DETAIL)
    if rollout_id is None or doc["rollout"].get("id") == rollout_id:
        return doc
    return client.get(path("rollouts", endpoint, "history", rollout_id), shape=DETAIL)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Watcher:
    """Polls the detail document of one rollout and redraws it; ``run`` returns the exit code.

    Follows the rollout that was current when it started: when a waiting version starts right
    after it ends, the watched rollout is read by id. With ``version``, it first waits for a
    rollout of that model version to be the endpoint's current one (a pipeline that has just
    registered the version). A 5xx or an unreachable API while watching is shown and retried
    (the rollout goes on without us); a 4xx stops the watch.
    """

    def __init__(
        self,
        client: Client,
        endpoint: str,
        console: Console,
        *,
        interval: float = 2.0,
        timeout: float | None = None,
        version: str | None = None,
        as_json: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        write: Callable[[str], None] = lambda line: print(line, flush=True),
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.console = console
        self.interval = interval
        self.timeout = timeout
        self.version = version
        self.as_json = as_json
        self.sleep = sleep
        self.monotonic = monotonic
        self.now = now
        self.write = write
        self.problem: str | None = None
        self._last_line: str | None = None

    def run(self) -> int:
        started = self.monotonic()
        if self.as_json:
            return self._loop(None, started)
        try:
            with Live(
                Text(f"reading {self.endpoint} ..."),
                console=self.console,
                auto_refresh=False,
                redirect_stdout=False,
            ) as live:
                return self._loop(live, started)
        finally:
            if not self.console.is_terminal:
                self.console.line()  # a redirected Live leaves its last line open, error or not

    def _loop(self, live: Live | None, started: float) -> int:
        doc = self._first(live, started)
        if doc is None:
            return EXIT_TIMEOUT
        rollout_id = (doc.get("rollout") or {}).get("id")
        self._show(live, doc)
        while not fmt.ended(doc.get("rollout") or {}):
            if self._timed_out(started):
                return EXIT_TIMEOUT
            self.sleep(self.interval)
            doc = self._poll(doc, rollout_id)
            self._show(live, doc)
        return self._finish(live, doc)

    def _first(self, live: Live | None, started: float) -> dict[str, Any] | None:
        """The first document to follow: at once, or once the wanted version's rollout is there."""
        while True:
            try:
                doc: dict[str, Any] | None = detail(self.client, self.endpoint)
            except ApiError as exc:
                if self.version is None or exc.code != "unknown_endpoint":
                    raise
                doc = None
            if doc is not None and self._wanted(doc):
                return doc
            if live is not None:
                live.update(self._waiting_frame(doc), refresh=True)
            if self._timed_out(started):
                return None
            self.sleep(self.interval)

    def _wanted(self, doc: dict[str, Any]) -> bool:
        if self.version is None:
            return True
        view = doc.get("rollout") or {}
        model = view.get("model")
        version = model.get("version") if isinstance(model, dict) else view.get("version")
        return str(version) == self.version

    def _show(self, live: Live | None, doc: dict[str, Any]) -> None:
        if live is not None:
            live.update(self._frame(doc), refresh=True)
            return
        line = json.dumps(doc, sort_keys=True)
        if line != self._last_line:
            self.write(line)
            self._last_line = line

    def _timed_out(self, started: float) -> bool:
        return self.timeout is not None and self.monotonic() - started >= self.timeout

    def _poll(self, doc: dict[str, Any], rollout_id: str | None) -> dict[str, Any]:
        try:
            fresh = detail(self.client, self.endpoint, rollout_id)
        except Unreachable as exc:
            self.problem = str(exc)
            return doc
        except ApiError as exc:
            if exc.status < 500:
                raise
            self.problem = f"{exc.status} {exc.code}: {exc.message}"
            return doc
        self.problem = None
        return fresh

    def _frame(self, doc: dict[str, Any]) -> RenderableType:
        now = self.now()
        parts: list[RenderableType] = [render.rollout_view(doc, now), self._footer(now)]
        if self.problem:
            parts.append(Text(f"last update failed, retrying: {self.problem}", style="yellow"))
        return Group(*parts)

    def _waiting_frame(self, doc: dict[str, Any] | None) -> RenderableType:
        now = self.now()
        text = Text(f"waiting for a rollout of version {self.version} on {self.endpoint}")
        if doc is not None:
            view = doc.get("rollout") or {}
            text.append(f" (latest: {render.model_version(view)}, {view.get('phase')})")
        return Group(text, self._footer(now))

    def _footer(self, now: datetime) -> Text:
        footer = Text(f"\nwatching {self.endpoint} every {self.interval:g}s · ", style="dim")
        footer.append(f"updated {now.strftime('%H:%M:%S')} UTC · Ctrl-C to stop", style="dim")
        return footer

    def _finish(self, live: Live | None, doc: dict[str, Any]) -> int:
        view = doc.get("rollout") or {}
        phase = str(view.get("phase"))
        code = OUTCOME_EXIT.get(phase, EXIT_OK)
        if live is not None:
            live.update(
                Group(
                    self._frame(doc),
                    Text(
                        f"rollout {view.get('id', '')} ended: {phase} (exit {code})", style="bold"
                    ),
                ),
                refresh=True,
            )
        return code
