"""The README's "what is sent, and when" table names every lifecycle event that notifies."""

from __future__ import annotations

from pathlib import Path

from shared.notify.notice import LIFECYCLE

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_lists_every_event_that_notifies() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Notifications (Teams, Slack)") : text.index("## Logs")]
    missing = [event for event in LIFECYCLE if f"`{event}`" not in section]
    assert missing == []
