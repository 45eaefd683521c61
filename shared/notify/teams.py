"""A notice as a Microsoft Teams message: one Adaptive Card, for a Workflows webhook. Pure.

The payload is the one Microsoft documents for sending an Adaptive Card to a webhook
(MicrosoftDocs/msteams-docs, msteams-platform/webhooks-and-connectors/how-to/connectors-using.md,
"Send adaptive cards using an incoming webhook")::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null,
                      "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                                  "type": "AdaptiveCard", "version": "1.2", "body": [...]}}]}

The Office 365 connectors that took MessageCards are retired; their replacement, a Workflows
flow started by "When a Teams webhook request is received" (the "Post to a channel when a
webhook request is received" template), takes this same Adaptive Card message
(learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook:
"Workflows support Adaptive Cards"). Limits from the same page: a message is at most 28 KB, and
more than four requests a second are throttled. The supported actions are Action.OpenUrl,
Action.ShowCard and Action.ToggleVisibility (connectors-using.md): the card links to the
dashboard with Action.OpenUrl. Text blocks render a Markdown subset, so untrusted text has its
Markdown characters escaped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.notify.notice import Notice, one_line

MAX_BYTES = 28 * 1024  # Teams refuses larger messages
CARD_VERSION = "1.2"  # the version of Microsoft's webhook sample
_COLORS = {"info": "Accent", "good": "Good", "warning": "Warning", "attention": "Attention"}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def escape(text: str) -> str:
    """Untrusted text as literal text in a Markdown-rendering TextBlock or FactSet."""
    return _MARKDOWN.sub(r"\\\1", one_line(text))


def teams_message(n: Notice) -> dict[str, Any]:
    """The webhook payload for ``n`` (at most 28 KB: facts are dropped from the end to fit)."""
    facts = list(n.facts)
    while True:
        message = _message(n, facts)
        if len(json.dumps(message).encode("utf-8")) <= MAX_BYTES or not facts:
            return message
        facts.pop()


def _message(n: Notice, facts: list[tuple[str, str]]) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": escape(n.title),
            "weight": "Bolder",
            "size": "Medium",
            "color": _COLORS.get(n.severity, "Default"),
            "wrap": True,
        },
        {"type": "TextBlock", "text": escape(n.cause), "wrap": True},
    ]
    if facts:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": escape(k), "value": escape(v)} for k, v in facts],
            }
        )
    if n.advice:
        body.append(
            {"type": "TextBlock", "text": f"**What to do:** {escape(n.advice)}", "wrap": True}
        )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    if n.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the dashboard", "url": n.link}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
