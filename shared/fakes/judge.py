"""A judge with scripted verdicts, for engine tests (the real one is shared.judge)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from shared.judge.types import Carried, JudgeSettings, Minute, Verdict

SCRIPTED = "Scripted"


class ScriptedJudge:
    """Answers from a script: a fixed verdict, a queue of verdicts (the last one repeats),
    or a function of the minutes."""

    def __init__(
        self,
        verdicts: Sequence[Verdict] | Callable[[Sequence[Minute]], Verdict] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._fn = verdicts if callable(verdicts) else None
        self._queue = [] if callable(verdicts) else list(verdicts)
        self.calls: list[tuple[int, JudgeSettings]] = []
        self.carried: list[Carried | None] = []  # what each call was given

    def set(self, decision: str, reason: str = SCRIPTED) -> None:
        with self._lock:
            self._fn = None
            self._queue = [Verdict(decision, reason, {"scripted": True})]  # type: ignore[arg-type]

    def judge_stage(
        self, minutes: Sequence[Minute], settings: JudgeSettings, carried: Carried | None = None
    ) -> Verdict:
        with self._lock:
            self.calls.append((len(minutes), settings))
            self.carried.append(carried)
            if self._fn is not None:
                return self._fn(minutes)
            if not self._queue:
                return Verdict("hold", SCRIPTED, {"scripted": True})
            return self._queue.pop(0) if len(self._queue) > 1 else self._queue[0]
