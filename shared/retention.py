"""Retention: one bounded batch of history older than the retention period deleted, and
logged. A function over the store port (the engine passes its own)."""

from __future__ import annotations

import logging
from datetime import datetime

from shared.ports import PurgeReport, RolloutStore

log = logging.getLogger("autocanary")


def purge_history(store: RolloutStore, cutoff: datetime, max_rows: int | None) -> PurgeReport:
    """Delete one bounded batch of the history older than ``cutoff`` (at most ``max_rows``
    rows, or the store's own bound) and log what went."""
    report = store.purge(cutoff) if max_rows is None else store.purge(cutoff, max_rows=max_rows)
    if report.rows:
        log.info(
            "retention: deleted %d rollout(s), %d decision(s), %d event(s), %d ignored "
            "event(s) older than %s%s",
            report.rollouts,
            report.decisions,
            report.events,
            report.ignored,
            cutoff.isoformat(),
            "" if report.done else "; more remain",
        )
    return report
