"""Actions and start through the CLI: the request sent, the actor chosen, the reply shown."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.unit.cli.conftest import Cli
from tests.unit.cli.fakeapi import FakeApi, Seen, error, fixture, with_phase

ACTIONS = ("pause", "resume", "rollback", "abort", "retry", "cancel", "promote")


def _compact(action: str, phase: str = "Canary") -> dict[str, object]:
    view = with_phase(fixture("detail_canary.json"), phase)["rollout"]
    decision = {"reason": "PausedByOperator", "message": "checking a dashboard", "actor": "ann"}
    return {"endpoint": "fraud-scoring", "action": action, "rollout": view, "decision": decision}


@pytest.mark.parametrize("action", ACTIONS)
def test_action_posts_reason_and_actor_to_its_route(api: FakeApi, cli: Cli, action: str) -> None:
    api.reply("POST", f"/api/rollouts/fraud-scoring/{action}", 200, _compact(action))
    result = cli(action, "fraud-scoring", "--reason", "checking a dashboard", "--actor", "ann")
    assert result.exit_code == 0, result.output
    assert api.seen[-1].body == {"reason": "checking a dashboard", "actor": "ann"}
    assert f"{action}: fraud-scoring fraud:7 is now" in result.stdout
    assert "ann (flag)" in result.stdout


def test_promote_full_asks_for_every_remaining_stage(api: FakeApi, cli: Cli) -> None:
    api.reply("POST", "/api/rollouts/fraud-scoring/promote", 200, _compact("promote", "Promoting"))
    result = cli("promote", "fraud-scoring", "--full", "-r", "hotfix", "--actor", "ann")
    assert result.exit_code == 0, result.output
    assert api.seen[-1].body == {"reason": "hotfix", "actor": "ann", "full": True}
    assert "Promoting" in result.stdout


def test_an_action_needs_a_reason(api: FakeApi, cli: Cli) -> None:
    result = cli("pause", "fraud-scoring")
    assert result.exit_code == 2
    assert api.seen == []


def test_a_refused_action_prints_the_conflict_and_its_hint(api: FakeApi, cli: Cli) -> None:
    body = error(
        "phase_conflict",
        "rollout r-1 already ended (Succeeded); pause is not possible",
        "nothing to pause: start a new rollout with `start`",
        phase="Succeeded",
        allowed=[],
    )
    api.reply("POST", "/api/rollouts/fraud-scoring/pause", 409, body)
    result = cli("pause", "fraud-scoring", "-r", "x", "--actor", "ann")
    assert result.exit_code == 1
    assert "409 phase_conflict: rollout r-1 already ended" in result.stderr
    assert "hint: nothing to pause" in result.stderr
    assert '"phase": "Succeeded"' in result.stderr


def test_start_posts_model_version_endpoint_and_downgrade(api: FakeApi, cli: Cli) -> None:
    api.route("POST", "/api/rollouts", lambda seen: (201, _compact("start", "Pending")))
    result = cli(
        "start", "fraud", "7", "--endpoint", "fraud-scoring", "--allow-downgrade",
        "--reason", "event lost", "--actor", "ann",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert api.seen[-1].body == {
        "model": "fraud",
        "version": "7",
        "reason": "event lost",
        "actor": "ann",
        "endpoint": "fraud-scoring",
        "allow_downgrade": True,
    }


def test_start_without_endpoint_lets_the_policy_place_the_model(api: FakeApi, cli: Cli) -> None:
    api.reply("POST", "/api/rollouts", 201, _compact("start", "Pending"))
    assert cli("start", "fraud", "7", "-r", "lost", "--actor", "ann").exit_code == 0
    assert "endpoint" not in api.seen[-1].body


def _actor_sent(api: FakeApi, cli: Cli, **env: str | None) -> tuple[str, str]:
    api.reply("POST", "/api/rollouts/fraud-scoring/pause", 200, _compact("pause"))
    result = cli("pause", "fraud-scoring", "-r", "x", **env)
    assert result.exit_code == 0, result.output
    seen: Seen = api.seen[-1]
    return seen.body["actor"], result.stdout


def _fake_az(bin_dir: Path, user: str) -> str:
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(f'#!/bin/sh\n[ "$1 $2" = "account show" ] && echo "{user}"\n')
    az.chmod(az.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def test_actor_defaults_to_the_signed_in_az_user(api: FakeApi, cli: Cli, tmp_path: Path) -> None:
    path = _fake_az(tmp_path / "bin", "ann@contoso.com")
    actor, out = _actor_sent(api, cli, PATH=path)
    assert actor == "ann@contoso.com"
    assert "(az account)" in out


def test_actor_env_wins_over_the_az_user(api: FakeApi, cli: Cli, tmp_path: Path) -> None:
    path = _fake_az(tmp_path / "bin", "ann@contoso.com")
    actor, _ = _actor_sent(api, cli, PATH=path, AUTOCANARY_ACTOR="release-bot")
    assert actor == "release-bot"


def test_actor_falls_back_to_the_os_user_without_az(
    api: FakeApi, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("autocanary_cli.config.az_user", lambda: None)
    actor, out = _actor_sent(api, cli, USER="bob", LOGNAME="bob")
    assert actor == "bob"
    assert "(OS user)" in out


def test_cancel_shows_the_version_it_dropped(api: FakeApi, cli: Cli) -> None:
    reply = _compact("cancel")
    reply.update(
        outcome="cancelled",
        waiting=None,
        cancelled={"model": {"name": "fraud", "version": "8"}, "rule": "fraud"},
    )
    api.reply("POST", "/api/rollouts/fraud-scoring/cancel", 200, reply)
    result = cli("cancel", "fraud-scoring", "-r", "not this one", "--actor", "ann")
    assert result.exit_code == 0, result.output
    assert "Cancelled" in result.stdout and "fraud:8" in result.stdout


def test_a_start_that_waits_says_so(api: FakeApi, cli: Cli) -> None:
    reply = {
        "endpoint": "fraud-scoring",
        "action": "start",
        "outcome": "waiting",
        "rollout": None,
        "decision": None,
        "waiting": {"model": {"name": "fraud", "version": "8"}, "rule": "fraud"},
    }
    api.reply("POST", "/api/rollouts", 202, reply)
    result = cli("start", "fraud", "8", "-r", "event lost", "--actor", "ann")
    assert result.exit_code == 0, result.output
    assert "start: fraud-scoring waiting" in result.stdout
    assert "fraud:8 (starts when this rollout ends)" in result.stdout
