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
    doc = client.get(path("rollouts", endpoint))
    if rollout_id is None or (doc.get("rollout") or {}).get("id") == rollout_id:
        return doc
    return client.get(path("rollouts", endpoint, "history", rollout_id))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Watcher:
    """Polls the detail document of one rollout and redraws it; ``run`` returns the exit code.

    Follows the rollout that was current when it started: when a waiting version starts right
    after it ends, the watched rollout is read by id. A 5xx or an unreachable API while
    watching is shown and retried (the rollout goes on without us); a 4xx stops the watch.
    """

    def __init__(
        self,
        client: Client,
        endpoint: str,
        console: Console,
        *,
        interval: float = 2.0,
        timeout: float | None = None,
        as_json: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        write: Callable[[str], None] = lambda line: print(line, flush=True),
    ) -> None:
        self.write = write
        self.client = client
        self.endpoint = endpoint
        self.console = console
        self.interval = interval
        self.timeout = timeout
        self.as_json = as_json
        self.sleep = sleep
        self.monotonic = monotonic
        self.now = now
        self.problem: str | None = None

    def run(self) -> int:
        doc = detail(self.client, self.endpoint)
        rollout_id = (doc.get("rollout") or {}).get("id")
        started = self.monotonic()
        if self.as_json:
            return self._run_json(doc, rollout_id, started)
        with Live(
            self._frame(doc), console=self.console, auto_refresh=False, redirect_stdout=False
        ) as live:
            while not fmt.ended(doc.get("rollout") or {}):
                if self._timed_out(started):
                    return EXIT_TIMEOUT
                self.sleep(self.interval)
                doc = self._poll(doc, rollout_id)
                live.update(self._frame(doc), refresh=True)
        if not self.console.is_terminal:
            self.console.line()  # a redirected Live leaves its last line open
        return self._finish(doc)

    def _run_json(self, doc: dict[str, Any], rollout_id: str | None, started: float) -> int:
        last = json.dumps(doc, sort_keys=True)
        self.write(last)
        while not fmt.ended(doc.get("rollout") or {}):
            if self._timed_out(started):
                return EXIT_TIMEOUT
            self.sleep(self.interval)
            doc = self._poll(doc, rollout_id)
            line = json.dumps(doc, sort_keys=True)
            if line != last:
                self.write(line)
                last = line
        return OUTCOME_EXIT.get(str(doc["rollout"].get("phase")), EXIT_OK)

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
        parts: list[RenderableType] = [render.rollout_view(doc, now)]
        footer = Text(f"\nwatching {self.endpoint} every {self.interval:g}s · ", style="dim")
        footer.append(f"updated {now.strftime('%H:%M:%S')} UTC · Ctrl-C to stop", style="dim")
        parts.append(footer)
        if self.problem:
            parts.append(Text(f"last update failed, retrying: {self.problem}", style="yellow"))
        return Group(*parts)

    def _finish(self, doc: dict[str, Any]) -> int:
        view = doc.get("rollout") or {}
        phase = str(view.get("phase"))
        code = OUTCOME_EXIT.get(phase, EXIT_OK)
        self.console.print(
            Text(f"rollout {view.get('id', '')} ended: {phase} (exit {code})", style="bold")
        )
        return code
