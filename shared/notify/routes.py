"""The policy's ``notify`` rule key: which chat channels hear about a rule's models. Pure.

A rule names app settings, never webhook URLs (a webhook URL is a secret, and the resolved
policy is stored with every rollout and shown by the HTTP API)::

    rules:
      - name: fraud
        match: {model: "fraud-*"}
        endpoint: fraud-scoring
        notify: {teams: RISK_TEAMS_WEBHOOK_URL, slack: RISK_SLACK_WEBHOOK_URL}

Each value is the name of an app setting holding a Teams Workflows or Slack incoming webhook
URL; ``python -m shared.settings`` refuses a name that is not set or not an https URL. Notices
about the rule's rollouts, and about its models that were ignored, go to these channels as well
as to the app-wide ones (``AUTOCANARY_TEAMS_WEBHOOK_URL``, ``AUTOCANARY_SLACK_WEBHOOK_URL``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from shared.errors import PolicyError

ChannelKind = Literal["teams", "slack"]
NOTIFY_KINDS: tuple[ChannelKind, ...] = ("teams", "slack")
# App setting names the app can read as environment variables: a letter or underscore, then
# letters, digits and underscores (Linux app settings may also hold periods, which environment
# variables cannot carry portably).
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

# (kind, app setting name) pairs, sorted: hashable, so the resolved policy stays a value.
Routes = tuple[tuple[ChannelKind, str], ...]


def parse_notify(raw: Any, where: str) -> Routes:
    """Validate a rule's ``notify`` mapping; the error names the offending field."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not raw:
        raise PolicyError(
            where, "must be a mapping of channel (teams, slack) to the app setting holding its URL"
        )
    routes: list[tuple[ChannelKind, str]] = []
    for key, value in raw.items():
        if key not in NOTIFY_KINDS:
            raise PolicyError(f"{where}.{key}", "unknown channel (known: teams, slack)")
        if not isinstance(value, str) or not SETTING_NAME.match(value):
            raise PolicyError(
                f"{where}.{key}",
                "must be the name of an app setting holding the webhook URL (letters, digits, "
                "underscores; never the URL itself)",
            )
        routes.append((key, value))
    return tuple(sorted(routes))


def routes_to_dict(routes: Routes) -> dict[str, str]:
    return dict(routes)
