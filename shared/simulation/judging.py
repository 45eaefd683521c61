"""The production judge, asked the way a simulation asks it: incrementally.

``judge_stage(minutes, settings)`` is ``StageJudge.add`` over every minute plus one
``verdict()`` (shared/judge/judge.py). A simulated stage is judged every tick on the same
minutes plus the newest, so this Judge keeps the StageJudge of the minutes it saw and adds only
the new ones when the minutes asked about extend them under the same settings and carried
evidence; anything else starts afresh. The verdicts are the very ones
:class:`shared.judge.SequentialJudge` gives (tests/unit/simulation pin it); only the repeated
work is saved.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.judge import Carried, JudgeSettings, Minute, StageJudge, Verdict

_KEEP = 16  # stages remembered (one per endpoint being judged)


@dataclass
class _Seen:
    settings: JudgeSettings
    carried: Carried
    minutes: list[Minute] = field(default_factory=list)
    stage: StageJudge | None = None


class IncrementalJudge:
    """The Judge port over :class:`StageJudge`, reusing the work of the previous call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[_Seen] = []
        self.calls = 0
        self.minutes_added = 0

    def judge_stage(
        self, minutes: Sequence[Minute], settings: JudgeSettings, carried: Carried | None = None
    ) -> Verdict:
        carried = carried or Carried()
        with self._lock:
            self.calls += 1
            seen = self._find(minutes, settings, carried)
            if seen is None:
                seen = _Seen(settings, carried, [], StageJudge(settings, carried))
                self._seen.append(seen)
                del self._seen[:-_KEEP]
            assert seen.stage is not None
            for minute in minutes[len(seen.minutes) :]:
                seen.stage.add(minute)
                seen.minutes.append(minute)
                self.minutes_added += 1
            return seen.stage.verdict()

    def _find(
        self, minutes: Sequence[Minute], settings: JudgeSettings, carried: Carried
    ) -> _Seen | None:
        for seen in reversed(self._seen):
            n = len(seen.minutes)
            if (
                seen.settings == settings
                and seen.carried == carried
                and n <= len(minutes)
                and list(minutes[:n]) == seen.minutes
            ):
                # the most recent match wins; it moves to the end
                self._seen.remove(seen)
                self._seen.append(seen)
                return seen
        return None
