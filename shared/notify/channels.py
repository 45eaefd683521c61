"""Where notices go: chat channels (a webhook URL of a kind), resolved from app settings. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.notify.routes import ChannelKind, Routes

TEAMS_SETTING = "AUTOCANARY_TEAMS_WEBHOOK_URL"
SLACK_SETTING = "AUTOCANARY_SLACK_WEBHOOK_URL"
DEFAULT_SETTINGS: tuple[tuple[ChannelKind, str], ...] = (
    ("teams", TEAMS_SETTING),
    ("slack", SLACK_SETTING),
)


@dataclass(frozen=True)
class Channel:
    """One webhook. ``setting`` names the app setting it came from: logs show that, never the
    URL (a webhook URL is a secret: whoever has it can post to the channel)."""

    kind: ChannelKind
    setting: str
    url: str = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.setting}"


@dataclass(frozen=True)
class ChannelBook:
    """The app-wide channels and the webhook URL of every app setting a rule may name."""

    defaults: tuple[Channel, ...] = ()
    named: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_webhooks(cls, webhooks: Mapping[str, str]) -> ChannelBook:
        """From ``Settings.webhooks`` (app setting name -> URL)."""
        defaults = tuple(
            Channel(kind, name, webhooks[name])
            for kind, name in DEFAULT_SETTINGS
            if name in webhooks
        )
        return cls(defaults, dict(webhooks))

    @property
    def empty(self) -> bool:
        return not self.defaults and not self.named

    def channels(self, routes: Routes = ()) -> list[Channel]:
        """The app-wide channels and those of ``routes`` (a rule's ``notify``), each URL once;
        a route whose setting is unknown is skipped (left out by the settings as not set or
        not usable, reported by health and `python -m shared.settings`)."""
        out: list[Channel] = []
        seen: set[tuple[str, str]] = set()
        wanted = [*self.defaults]
        wanted += [Channel(k, s, self.named[s]) for k, s in routes if s in self.named]
        for ch in wanted:
            if (ch.kind, ch.url) not in seen:
                seen.add((ch.kind, ch.url))
                out.append(ch)
        return out
