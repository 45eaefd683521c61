"""Settled minutes: which of a stage's metric minutes the engine may decide on. Pure.

Azure Monitor minutes arrive late and are revised for minutes after they close (the metrics
overview: the newest PT1M points are missing or partial, then filled in). An irreversible
decision must not rest on a half-ingested minute, so a minute is *settled* when

1. it ended at least ``settle`` seconds ago, and
2. it read the same on two consecutive ticks (its digest is the one the previous tick stored,
   read then whether or not it was old enough yet), and so did every minute before it in the
   stage (a minute missing on two ticks at which it was old enough is settled as absent:
   minutes with no requests are never reported).

The settled minutes are a prefix of the stage in time: ``through`` is the start of the newest
settled minute. The rollout keeps a small reading (:class:`Readings` as plain data): the stage
it belongs to, ``through``, one digest over the settled prefix, the previous tick's horizon
and the digests of the minutes read after ``through`` up to that horizon (bounded). A settled
minute read differently later (a revision, or a minute that arrived very late) resets the
reading: nothing is settled until the stage's minutes read the same twice again, and the
evidence says ``revised``.

What this protects against: any minute whose reading still changes from tick to tick. It
cannot tell a partial reading that stayed the same for a whole tick from a final one: ``settle``
bounds that risk (a minute must also be old).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.judge.types import Minute
from shared.model import iso, parse_time

MAX_PENDING = 64  # minutes remembered past the settled prefix (older ones first)
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True)
class Settled:
    """The settled minutes of a stage (oldest first), the reading to store, and the evidence."""

    minutes: tuple[Minute, ...]
    readings: dict[str, Any]
    evidence: dict[str, Any]


def minute_digest(m: Minute) -> str:
    """A short digest of everything a minute says (counts, percentiles, exceedances)."""
    return hashlib.sha256(repr(astuple(m)).encode()).hexdigest()[:12]


def _prefix_digest(minutes: Sequence[Minute]) -> str:
    h = hashlib.sha256()
    for m in minutes:
        h.update(f"{iso(m.start)}={minute_digest(m)};".encode())
    return h.hexdigest()[:16]


def _extend(
    through: datetime,
    eligible: Sequence[Minute],
    pending: Mapping[str, str],
    cutoff: datetime,
    step_s: float,
) -> datetime:
    """Extend the settled prefix past the previous tick's horizon over the next minutes, one
    step after another, that are old enough now, present, and read the same at the previous
    tick (when they were not yet old enough). A gap (a minute absent now) stops it: a minute
    is settled as absent only when it was absent on two ticks at which it was old enough."""
    by_start = {m.start: m for m in eligible if m.start is not None}
    step = timedelta(seconds=step_s)
    nxt = through + step
    while nxt <= cutoff:
        m = by_start.get(nxt)
        if m is None or pending.get(iso(nxt) or "") != minute_digest(m):
            break
        through, nxt = nxt, nxt + step
    return through


def settle(
    minutes: Sequence[Minute],
    readings: Mapping[str, Any] | None,
    *,
    key: str,
    now: datetime,
    settle_s: float,
    step_s: float,
) -> Settled:
    """The settled prefix of ``minutes`` at ``now`` given the previous tick's ``readings``.

    ``key`` names the stage (a reading of another stage is ignored); ``step_s`` is the length
    of one metric minute (60 in Azure); ``settle_s`` how long after its end a minute may still
    be revised.
    """
    # A minute starting at or before the cutoff ended settle_s ago. Minutes start on multiples
    # of step_s, so the cutoff is floored to one: ticks within one minute read the same (and
    # store the same reading: an unchanged rollout is not rewritten).
    raw = (now - timedelta(seconds=settle_s + step_s)).timestamp()
    cutoff = datetime.fromtimestamp(math.floor(raw / step_s) * step_s, tz=UTC)
    dated = sorted((m for m in minutes if m.start is not None), key=lambda m: m.start)  # type: ignore[arg-type,return-value]
    eligible = [m for m in dated if m.start is not None and m.start <= cutoff]
    prev = dict(readings or {})
    if prev.get("key") != key:
        prev = {}
    through = parse_time(prev.get("through"))
    horizon = parse_time(prev.get("horizon"))
    pending: dict[str, str] = {str(k): str(v) for k, v in (prev.get("pending") or {}).items()}
    revised = False
    if through is not None:
        prefix = [m for m in eligible if m.start is not None and m.start <= through]
        if _prefix_digest(prefix) != prev.get("digest"):
            revised = True
            through, horizon, pending = None, None, {}
    if horizon is not None:
        end = min(horizon, cutoff)
        now_read = {
            iso(m.start) or "": minute_digest(m)
            for m in eligible
            if m.start is not None and m.start <= end and (through is None or m.start > through)
        }
        before = {
            k: v
            for k, v in pending.items()
            if (t := parse_time(k)) is not None and t <= end and (through is None or t > through)
        }
        keys = set(now_read) | set(before)
        differs = sorted(
            (parse_time(k) for k in keys if now_read.get(k) != before.get(k)),
            key=lambda t: t or end,
        )
        first = differs[0] if differs else None
        # Everything read the same up to the first difference (or the whole region).
        through = end if first is None else first - _TINY
        if first is None:
            through = _extend(through, eligible, pending, cutoff, step_s)
    settled = tuple(m for m in eligible if through is not None and m.start <= through)  # type: ignore[operator]
    # every minute read past the settled prefix is remembered, old enough or not: a minute read
    # the same at the tick before it became old enough settles as soon as it is
    after = [m for m in dated if through is None or (m.start is not None and m.start > through)]
    new_pending = {iso(m.start) or "": minute_digest(m) for m in after[:MAX_PENDING]}
    stored: dict[str, Any] = {
        "key": key,
        "through": iso(through),
        "digest": _prefix_digest(settled),
        "horizon": iso(cutoff),
        "pending": new_pending,
    }
    evidence: dict[str, Any] = {
        "settle_s": settle_s,
        "minutes_read": len(minutes),
        "minutes_settled": len(settled),
        "first_settled": iso(settled[0].start) if settled else None,
        "last_settled": iso(settled[-1].start) if settled else None,
        "settled_through": iso(through),
        "minutes_unsettled": len(dated) - len(settled),
        "revised": revised,
    }
    return Settled(settled, stored, evidence)


# What moves in a reading, and in its evidence, while no minute enters it: the horizon and how
# far the empty minutes reach. A reading that differs from the stored one only there need not
# be stored: on the next tick the stored one compares the same minutes (it holds the digests
# the two-tick rule needs), and a minute that appears meanwhile enters the reading as pending,
# so it is read twice before it settles all the same.
MOVING_READING = frozenset({"through", "horizon"})
MOVING_EVIDENCE = frozenset({"settled_through"})


def steady_reading(readings: Mapping[str, Any]) -> dict[str, Any]:
    """``readings`` without what moves while no minute enters it (see MOVING_READING)."""
    return {k: v for k, v in readings.items() if k not in MOVING_READING}


def steady_evidence(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """Settle evidence without what moves while no minute enters the reading."""
    return {k: v for k, v in evidence.items() if k not in MOVING_EVIDENCE}
