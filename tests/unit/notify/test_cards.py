"""The webhook payloads: a Teams Adaptive Card message and a Slack Block Kit message, with
untrusted text escaped and the services' limits kept."""

from __future__ import annotations

import json

from shared.notify.notice import Notice
from shared.notify.slack import slack_message
from shared.notify.teams import MAX_BYTES, teams_message

NOTICE = Notice(
    kind="rolled_back",
    title="Rolling back: fraud:7 on fraud-scoring",
    cause="Rolled back: canary error rate 2.40 % vs baseline 0.30 % (48/2000 vs 6/2000 requests)",
    severity="attention",
    facts=(("Endpoint", "fraud-scoring"), ("Canary error rate", "2.40 % (48/2000 requests)")),
    advice="Traffic is going back to the baseline; nothing to do.",
    link="https://app.example.net/api/dashboard?endpoint=fraud-scoring",
)


def test_teams_message_is_an_adaptive_card_attachment_as_documented() -> None:
    message = teams_message(NOTICE)
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.2"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    texts = [b.get("text", "") for b in card["body"]]
    assert texts[0].startswith("Rolling back") and card["body"][0]["color"] == "Attention"
    facts = next(b for b in card["body"] if b["type"] == "FactSet")["facts"]
    assert {"title": "Endpoint", "value": "fraud\\-scoring"} in facts
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open the dashboard", "url": NOTICE.link}
    ]


def test_teams_escapes_markdown_and_control_characters_of_untrusted_text() -> None:
    evil = Notice(
        kind="ignored",
        title="Not rolled out: [click](https://evil.example):1",
        cause="name with\nnewline and \x00 NUL",
        severity="warning",
    )
    card = teams_message(evil)["attachments"][0]["content"]
    title, cause = card["body"][0]["text"], card["body"][1]["text"]
    assert "[click](" not in title and "\\[click\\]\\(" in title
    assert "\n" not in cause and "\x00" not in cause and "\\x00" in cause


def test_teams_message_stays_under_28_kb_by_dropping_facts() -> None:
    big = Notice(
        kind="paused",
        title="Paused",
        cause="x",
        severity="warning",
        facts=tuple((f"fact {i}", "v" * 900) for i in range(80)),
    )
    message = teams_message(big)
    assert len(json.dumps(message).encode()) <= MAX_BYTES
    facts = next(b for b in message["attachments"][0]["content"]["body"] if b["type"] == "FactSet")
    assert 0 < len(facts["facts"]) < 80


def test_slack_message_has_fallback_text_header_fields_and_link() -> None:
    message = slack_message(NOTICE)
    assert message["text"].startswith("Rolling back: fraud:7 on fraud-scoring: Rolled back")
    header, cause, fields, advice, context = message["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert ":rotating_light:" in header["text"]["text"]
    assert cause["text"]["type"] == "mrkdwn" and "2.40 %" in cause["text"]["text"]
    assert fields["fields"][0] == {"type": "mrkdwn", "text": "*Endpoint*\nfraud-scoring"}
    assert advice["text"]["text"].startswith("*What to do:*")
    assert context["elements"][0]["text"] == f"<{NOTICE.link}|Open the dashboard>"


def test_slack_escapes_mentions_and_links_and_keeps_block_limits() -> None:
    evil = Notice(
        kind="ignored",
        title="T" * 400,
        cause="<!channel> & <https://evil.example|click>",
        severity="warning",
        facts=tuple((f"k{i}", "v") for i in range(15)),
    )
    message = slack_message(evil)
    header = message["blocks"][0]["text"]["text"]
    assert len(header) <= 150
    cause = message["blocks"][1]["text"]["text"]
    assert "<" not in cause and "&lt;!channel&gt; &amp; &lt;https" in cause
    assert len(message["blocks"][2]["fields"]) == 10
