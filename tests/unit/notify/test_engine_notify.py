"""The engine tells people: lifecycle events and ignored models become notices on the chat
channels, sent after the decision is committed and never holding a reconcile up."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from shared.fakes.notifier import RecordingNotifier
from shared.model import Phase
from shared.notify.channels import ChannelBook
from shared.notify.dispatch import Notifications
from shared.operator_requests import StartRequest
from shared.ports import RolloutQuery
from tests.engine_support import POLICY, World, make_world

TEAMS = "https://example.webhook.office.com/workflows/ops"
SLACK = "https://hooks.slack.com/services/T0/B0/ops"
RISK = "https://hooks.slack.com/services/T0/B0/risk"
TEAM_POLICY = POLICY.replace(
    '    match: {model: "fraud*"}\n    endpoint: fraud\n',
    '    match: {model: "fraud*"}\n    endpoint: fraud\n'
    "    allow_tag_overrides: [watch_window]\n"
    "    notify: {slack: RISK_SLACK_URL}\n",
)


def notified(policy: str = POLICY, **kwargs: float) -> tuple[World, RecordingNotifier]:
    w = make_world(policy)
    fake = RecordingNotifier()
    book = ChannelBook.from_webhooks(
        {
            "AUTOCANARY_TEAMS_WEBHOOK_URL": TEAMS,
            "AUTOCANARY_SLACK_WEBHOOK_URL": SLACK,
            "RISK_SLACK_URL": RISK,
        }
    )
    w.engine.notifications = Notifications(
        fake, book, public_url="https://ac.example.net", **kwargs
    )
    return w, fake


def slack_texts(fake: RecordingNotifier, url: str = SLACK) -> list[str]:
    return [p["text"] for c, p in fake.posts if c.url == url]


def run_to_end(w: World) -> None:
    for _ in range(30):
        w.tick(70)
        if w.store.read("fraud").active is None:
            return


def test_good_rollout_notifies_start_stages_promotion_and_success_on_every_channel() -> None:
    w, fake = notified()
    w.judge.set("promote", "Cleared")
    w.engine.on_model_registered(w.model())
    run_to_end(w)
    assert w.engine.notifications is not None and w.engine.notifications.drain(5.0)
    texts = slack_texts(fake)
    assert [t.split(":")[0] for t in texts] == [
        "Rollout started",
        "Stage advanced",
        "Stage advanced",
        "Promoted",
        "Succeeded",
    ]
    assert len([c for c, _ in fake.posts if c.kind == "teams"]) == len(texts)
    card = json.dumps(next(p for c, p in fake.posts if c.kind == "teams"))
    assert "https://ac.example.net/api/dashboard?endpoint=fraud" in card


def test_rollback_notice_says_the_cause_and_what_to_do() -> None:
    w, fake = notified()
    w.judge.set("promote")
    w.engine.on_model_registered(w.model())
    for _ in range(6):
        w.tick(70)
    w.judge.set("rollback", "ErrorRateRegression")
    for _ in range(8):  # the judge is asked once the stage's first minutes settled
        w.tick(70)
    assert w.engine.notifications is not None and w.engine.notifications.drain(5.0)
    rolled = [p for c, p in fake.posts if c.kind == "slack" and "Rolling back" in p["text"]]
    assert rolled, slack_texts(fake)
    blocks = json.dumps(rolled[0]["blocks"])
    assert "JudgeRollback" in blocks and "What to do" in blocks


def test_operator_pause_notice_names_who_and_the_actions_allowed() -> None:
    w, fake = notified()
    w.engine.on_model_registered(w.model())
    w.tick(70)
    w.engine.act("fraud", "pause", "looking at latency", "ana")
    assert w.engine.notifications is not None and w.engine.notifications.drain(5.0)
    paused = [p for c, p in fake.posts if c.kind == "slack" and p["text"].startswith("Paused")]
    assert len(paused) == 1
    text = json.dumps(paused[0]["blocks"])
    assert "PausedByOperator" in text and "Allowed now: resume" in text


def test_ignored_model_is_told_to_the_app_wide_channels() -> None:
    w, fake = notified()
    w.engine.on_model_registered(w.model("ranker", "3"))
    assert w.engine.notifications is not None and w.engine.notifications.drain(5.0)
    (text,) = slack_texts(fake)
    assert text.startswith("Not rolled out: ranker:3") and "No policy rule matches" in text
    assert slack_texts(fake, RISK) == []


def test_ignored_model_of_a_rule_is_also_told_to_that_rules_team() -> None:
    w, fake = notified(TEAM_POLICY)
    model = w.model()
    bad = type(model)(model.name, model.version, {"autocanary.stages": "5,100"}, "ev-bad")
    assert w.engine.on_model_registered(bad).outcome == "ignored"
    assert w.engine.notifications is not None and w.engine.notifications.drain(5.0)
    (text,) = slack_texts(fake, RISK)
    assert "Invalid autocanary tag" in text
    assert len(slack_texts(fake)) == 1  # the app-wide channel too, each once


def test_duplicate_ignored_event_notifies_once() -> None:
    w, fake = notified()
    w.engine.on_model_registered(w.model("ranker", "3", event_id="e1"))
    w.engine.on_model_registered(w.model("ranker", "3", event_id="e1"))
    assert w.engine.notifications is not None and w.engine.notifications.drain(5.0)
    assert len(slack_texts(fake)) == 1


def test_failing_webhooks_never_stop_the_rollout_and_are_counted() -> None:
    w, fake = notified()
    fake.fail = True
    w.judge.set("promote", "Cleared")
    w.engine.on_model_registered(w.model())
    run_to_end(w)
    done = w.store.list_rollouts(RolloutQuery(endpoint="fraud"))[0]
    assert done.phase is Phase.SUCCEEDED
    assert w.engine.notifications is not None
    w.engine.notifications.drain(5.0)
    stats = w.engine.notifications.stats()
    assert stats["sent"] == 0 and stats["failed"] + stats["skipped"] == stats["queued"] > 0


def test_a_hanging_webhook_does_not_hold_the_tick_past_its_drain_budget() -> None:
    w, fake = notified(drain_s=0.05)
    fake.block = threading.Event()
    try:
        w.engine.on_model_registered(w.model())
        w.tick(70)  # returns although every post is blocked
        slot = w.store.read("fraud")
        assert slot.active is not None and slot.active.phase is not Phase.PENDING
        assert w.engine.notifications is not None
        assert w.engine.notifications.stats()["pending"] > 0
    finally:
        fake.block.set()
    assert w.engine.notifications.drain(5.0)
    assert w.engine.notifications.stats()["sent"] > 0


def test_judge_rollback_reaches_event_grid_and_chat_with_the_same_numbers() -> None:
    from shared.fakes.judge import ScriptedJudge
    from shared.judge.types import Verdict

    w, fake = notified()
    w.judge.set("promote")
    w.engine.on_model_registered(w.model())
    for _ in range(6):
        w.tick(70)
    evidence = {
        "canary_requests": 2000,
        "canary_errors": 48,
        "baseline_requests": 2000,
        "baseline_errors": 6,
        "rollback_threshold_log_e": 4.6,
        "error_rate": {"tolerance": 1.0, "peak_log_e": 5.1},
    }
    w.engine.judge = ScriptedJudge(lambda _: Verdict("rollback", "ErrorRateRegression", evidence))
    for _ in range(8):
        w.tick(70)
    assert w.engine.notifications is not None and w.engine.notifications.drain(5.0)
    data = next(d for t, _, d in w.events.events if t.endswith("RolloutRollingBack"))
    assert data["why"]["canary"]["errors"] == 48 and data["why"]["baseline"]["requests"] == 2000
    assert "2.40 %" in data["cause"] and "0.30 %" in data["cause"]
    rolled = next(p for c, p in fake.posts if c.kind == "slack" and "Rolling back" in p["text"])
    assert data["cause"] in rolled["text"]
    assert "2.40 % (48/2000 requests)" in json.dumps(rolled["blocks"])


def test_a_manual_start_notifies_and_logs_its_decision_like_a_registered_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An operator's start (POST /api/rollouts) is the same admission as an event's: its
    "Rollout started" reaches the chat channels and its decision the decision log."""
    w, fake = notified()
    with caplog.at_level(logging.INFO, logger="autocanary.decisions"):
        result = w.engine.start(
            StartRequest(model="fraud", version="7", reason="hotfix", actor="ana")
        )
    assert result.outcome == "started" and result.rollout is not None
    assert w.engine.notifications is not None and w.engine.notifications.drain(5.0)
    assert [t.split(":")[0] for t in slack_texts(fake)] == ["Rollout started"]
    logged = [r.getMessage() for r in caplog.records if r.name == "autocanary.decisions"]
    # the admission (who started it and why) first, then the reconcile's first step
    assert [line.split(": ")[1].split(",")[0] for line in logged] == [
        "Pending -> Pending",
        "Pending -> Provisioning",
    ]
    assert all(line.startswith(f"decision fraud {result.rollout.id} ") for line in logged)


def test_an_operators_action_answers_once_its_notices_went_out() -> None:
    """The Functions host does not wait for background threads after an invocation returns
    (performance-reliability: "Make sure background tasks complete"): a request's notices are
    sent before it answers (within REQUEST_DRAIN_S), as a tick's are."""
    w, fake = notified()
    w.judge.set("promote")
    w.engine.on_model_registered(w.model())
    for _ in range(6):
        w.tick(70)
    assert w.engine.notifications is not None and w.engine.notifications.drain(5.0)
    before = len(slack_texts(fake))
    fake.block = threading.Event()  # each webhook call takes 0.3 s
    threading.Timer(0.3, fake.block.set).start()
    w.engine.act("fraud", "rollback", "bad answers", "ana")
    assert len(slack_texts(fake)) > before, "the rollback's notice was still queued"
    assert w.engine.notifications.stats()["pending"] == 0
