"""``autocanary get --watch`` in a real terminal (tmux): what a person sees, then the exit code.

The fake API on loopback serves one rollout that the test moves on: Canary at 25 %, then
RollingBack with the error rate over its rollback threshold, then RolledBack (exit code 10).
The CLI runs as ``python -m autocanary_cli`` from this checkout (the console script in .venv
runs the same ``main``; test_cli_packaging checks the declaration).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.cli.fakeapi import FakeApi, Seen, fixture, with_phase

ROOT = Path(__file__).resolve().parents[3]
WAIT_S = 15.0  # an upper bound on waiting for the screen, not a speed goal


class Tmux:
    """One tmux server of our own (its own socket), killed at the end."""

    def __init__(self) -> None:
        tmux = shutil.which("tmux")
        assert tmux, "tmux is missing: `make tmux` installs it (apt-get install -y tmux)"
        self.base = [tmux, "-L", f"autocanary-test-{uuid.uuid4().hex[:8]}"]

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "watch")

    def wait_for(self, ok: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while True:
            text = self.screen()
            if ok(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what}:\n{text}")
            time.sleep(0.05)

    def wait_for_all(self, *texts: str) -> str:
        """The screen once it shows every one of ``texts``."""
        return self.wait_for(lambda s: all(t in s for t in texts), " and ".join(texts))

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=10, check=False)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux()
    try:
        yield server
    finally:
        server.kill()


def _states() -> list[dict[str, Any]]:
    canary = fixture("detail_canary.json")
    rolling = with_phase(
        canary,
        "RollingBack",
        cause="Rolling back: canary error rate 2.40 % vs baseline 0.30 % (48/2000 vs 6/2000)",
        allowed_actions=[],
    )
    rolling["rollout"]["readings"][0].update(
        canary=2.4, baseline=0.3, rollback_progress=1.0, clear_progress=0.0, state="rollback"
    )
    ended = with_phase(rolling, "RolledBack", ended_at="2026-12-02T10:48:00+00:00")
    return [canary, rolling, ended]


def test_watch_in_a_terminal_shows_the_rollout_and_exits_with_its_outcome(
    api: FakeApi, tmux: Tmux, tmp_path: Path
) -> None:
    states = _states()
    now = [0]

    def route(seen: Seen) -> tuple[int, Any]:
        return 200, states[now[0]]

    api.route("GET", "/api/rollouts/fraud-scoring", route)
    rc = tmp_path / "rc"
    env = {
        "AUTOCANARY_URL": api.url,
        "AUTOCANARY_KEY": "k",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PATH": os.environ.get("PATH", ""),
    }
    cli = [sys.executable, "-m", "autocanary_cli", "get", "fraud-scoring", "--watch"]
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = (
        f"cd {shlex.quote(str(ROOT))} && env -i {assignments} {shlex.join(cli)} --interval 0.2"
        f"; echo $? > {shlex.quote(str(rc))}; sleep 60"
    )
    tmux.run("-u", "new-session", "-d", "-s", "watch", "-x", "150", "-y", "50", command)

    # Each wait is for a whole frame: tmux may be caught between two lines of a redraw.
    tmux.wait_for_all(
        "Canary",
        "stage 2 of 4 · weight 25 %",
        "fraud-v6 (baseline)    75 %  75 %",
        "fraud-v7 (canary)      25 %  25 %",
        "error rate   0.31 %    0.29 %",
        "██████████░░  80 %",  # the bar toward clear
        "StageAdvanced",
        "Ctrl-C to stop",
    )
    now[0] = 1
    tmux.wait_for_all(
        "↺ RollingBack",
        "Rolling back: canary error rate 2.40 %",
        "████████████ 100 %",  # the error rate reached its rollback threshold
        "2.40 %    0.30 %",
    )
    now[0] = 2
    tmux.wait_for_all("✖ RolledBack", "ended: RolledBack (exit 10)")
    deadline = time.monotonic() + WAIT_S
    while not rc.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rc.read_text().strip() == "10"
