"""A notice as a Slack message: Block Kit blocks for an incoming webhook. Pure.

An incoming webhook takes ``{"text": ..., "blocks": [...]}``; with blocks, ``text`` is the
fallback shown in notifications (docs.slack.dev/messaging/sending-messages-using-incoming-
webhooks). Limits (docs.slack.dev/reference/block-kit/blocks): a ``header`` holds plain text of
at most 150 characters, a ``section`` text at most 3000 and at most 10 ``fields`` of 2000 each,
a message at most 50 blocks. Slack answers a webhook over its rate (about one message a second,
short bursts allowed) with 429 and a ``Retry-After`` header (slackhq/slack-api-docs,
page_rate_limits.md). In ``mrkdwn`` text, ``&``, ``<`` and ``>`` must be escaped
(docs.slack.dev/messaging/formatting-message-text, "Escaping text"); the dashboard link is a
``<url|text>`` link in a context block rather than a button (a button would post an interaction
to an app the webhook does not have).
"""

from __future__ import annotations

from typing import Any

from shared.notify.notice import Notice, one_line

_EMOJI = {
    "info": ":information_source:",
    "good": ":white_check_mark:",
    "warning": ":warning:",
    "attention": ":rotating_light:",
}
MAX_FIELDS = 10


def escape(text: str, limit: int = 2000) -> str:
    """Untrusted text as literal text in mrkdwn (and no mention or link can be forged)."""
    clean = one_line(text, limit)
    return clean.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(n: Notice) -> dict[str, Any]:
    title = one_line(f"{_EMOJI.get(n.severity, '')} {n.title}".strip(), 150)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(n.cause, 3000)}},
    ]
    if n.facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{escape(k, 100)}*\n{escape(v, 1800)}"}
                    for k, v in n.facts[:MAX_FIELDS]
                ],
            }
        )
    if n.advice:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*What to do:* {escape(n.advice, 2900)}"},
            }
        )
    if n.link:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{n.link}|Open the dashboard>"}],
            }
        )
    return {"text": escape(f"{n.title}: {n.cause}", 3000), "blocks": blocks}
