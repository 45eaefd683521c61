"""The CLI on the read side's own documents (shared.queries over the fakes), not fixtures.

The engine runs a rollout on the fakes; what ``GET /api/...`` would answer (the same
functions, JSON-encoded as the handlers encode) is served by the fake API to the CLI.
"""

from __future__ import annotations

import json
from typing import Any

from shared.ports import RolloutQuery
from tests.engine_support import World, make_world
from tests.unit.cli.conftest import Cli
from tests.unit.cli.fakeapi import FakeApi


def _wire(doc: Any) -> Any:
    return json.loads(json.dumps(doc, default=str, sort_keys=True))  # as handlers/_http encodes


def _serve(api: FakeApi, w: World) -> None:
    q = w.engine.queries
    api.route("GET", "/api/rollouts/fraud", lambda seen: (200, _wire(q.describe("fraud"))))
    items, token = q.page_rollouts(RolloutQuery(endpoint="fraud"))
    api.reply("GET", "/api/rollouts", 200, _wire({"rollouts": items, "continuation": token}))
    api.reply("GET", "/api/rollouts/fraud/history", 200, _wire(q.history("fraud")))


def _shadowing() -> World:
    w = make_world()
    w.engine.on_model_registered(w.model())
    for _ in range(6):
        w.tick()
    return w


def test_get_shows_the_read_sides_view_of_a_running_rollout(api: FakeApi, cli: Cli) -> None:
    w = _shadowing()
    _serve(api, w)
    view = w.engine.queries.describe("fraud")["rollout"]
    result = cli("get", "fraud")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "fraud:7" in out and "Shadowing" in out and view["phase"] == "Shadowing"
    assert "Waiting for data:" in out and "shadow · weight 0 %" in out
    assert "live = wanted ✔" in out  # the detail read the live split once
    assert "Last decisions" in out and view["reason"] in out


def test_list_history_and_why_read_the_read_sides_documents(api: FakeApi, cli: Cli) -> None:
    w = _shadowing()
    w.engine.act("fraud", "abort", "wrong model", "ann")
    for _ in range(3):
        w.tick()
    _serve(api, w)
    assert w.engine.queries.describe("fraud")["rollout"]["phase"] == "Aborted"
    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    assert "fraud:7" in listed.stdout and "Aborted" in listed.stdout
    past = cli("history", "fraud")
    assert past.exit_code == 0 and "Aborted" in past.stdout
    why = cli("why", "fraud")
    assert why.exit_code == 0, why.output
    assert "Aborted: aborted by ann: wrong model" in why.stdout
    assert "AbortedByOperator" in why.stdout and "ann at" in why.stdout
    watched = cli("get", "fraud", "--watch")
    assert watched.exit_code == 12
