"""Commands that need no API: ``lint`` (the app's own policy validation) and the simulator.

Both import the app's package (``shared``) when run, never at import time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def lint(policy_file: str) -> tuple[int, dict[str, Any]]:
    """Validate a policy file exactly as the app does at start-up (shared.policy).

    Returns the exit code (0 valid, 1 invalid, 2 unreadable) and a JSON-ready report.
    """
    from shared.errors import PolicyError
    from shared.policy import load_policy_text

    try:
        text = Path(policy_file).read_text(encoding="utf-8")
    except OSError as exc:
        return EXIT_UNREADABLE, _invalid(policy_file, None, f"cannot be read: {exc.strerror}")
    except UnicodeDecodeError as exc:
        message = f"cannot be read: not UTF-8 text (byte {exc.start}: {exc.reason})"
        return EXIT_UNREADABLE, _invalid(policy_file, None, message)
    try:
        policies = load_policy_text(text, source=policy_file)
    except PolicyError as exc:
        return EXIT_INVALID, _invalid(policy_file, exc.field, exc.message)
    except RecursionError:  # the YAML reader recurses once per level
        message = f"{policy_file} is not valid YAML/JSON: nested too deeply"
        return EXIT_INVALID, _invalid(policy_file, "<file>", message)
    rules = []
    for rule in policies.rules:
        rules.append(
            {
                "name": rule.name,
                "model": rule.match.model,
                "tags": dict(rule.match.tags),
                "endpoint": rule.endpoint,
                "shadow_percent": rule.policy.shadow_percent,
                "stages": [s.weight for s in rule.policy.stages],
                "on_deadline": rule.policy.on_deadline,
                "on_newer_version": rule.policy.on_newer_version,
            }
        )
    return EXIT_OK, {"file": policy_file, "valid": True, "rules": rules}


def _invalid(policy_file: str, field: str | None, message: str) -> dict[str, Any]:
    return {"file": policy_file, "valid": False, "error": {"field": field, "message": message}}


def simulate(argv: Sequence[str], out: TextIO | None = None) -> int:
    """The simulator's own command line (``python -m shared.simulation``), unchanged."""
    from shared.simulation.__main__ import main

    return main(list(argv), out=out or sys.stdout)
