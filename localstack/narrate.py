"""Telling what happens: one line per decision worth a line, a progress line, a summary table.

The lines are built from what the app's own HTTP API returns (``GET /api/rollouts/{endpoint}``:
the rollout, its decisions and their evidence), so the demo shows what an operator would see.
"""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

# Decisions that are worth a line even when the phase and stage stay the same.
NOTABLE_REASONS = frozenset(
    {
        "AlertFired",
        "ManualChangeDetected",
        "DeploymentMissing",
        "StageDeadline",
        "EffectFailed",
        "PausedByOperator",
        "Resumed",
        "OldDeploymentDeleting",
        "CanaryDeleting",
    }
)


def split_text(traffic: Mapping[str, Any], mirror: Mapping[str, Any] | None = None) -> str:
    """``fraud-v1 75 % / fraud-v2 25 %`` (+ ``mirror fraud-v2 20 %``)."""
    live = " / ".join(f"{k} {int(v)} %" for k, v in sorted(traffic.items()) if int(v) > 0)
    text = live or "no live traffic"
    copies = {k: int(v) for k, v in (mirror or {}).items() if int(v) > 0}
    if copies:
        text += " + mirror " + ", ".join(f"{k} {v} %" for k, v in sorted(copies.items()))
    return text


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "-"


def _e(log_e: Any) -> str:
    """An e-value from its logarithm, readable at any size."""
    if not isinstance(log_e, int | float):
        return "?"
    value = math.exp(min(float(log_e), 700.0))
    return f"{value:.1f}" if value < 1000 else f"{value:.2e}"


def judge_summary(evidence: Mapping[str, Any] | None) -> str:
    """The judge's evidence in one phrase: counts, error rates and the e-values against
    their thresholds (rollback at K/alpha, promotion at 1/clear_alpha)."""
    judge = (evidence or {}).get("judge")
    if not isinstance(judge, Mapping) or "canary_requests" not in judge:
        return ""
    cr, ce = int(judge["canary_requests"]), int(judge["canary_errors"])
    br, be = int(judge["baseline_requests"]), int(judge["baseline_errors"])
    errors = judge.get("error_rate") or {}
    parts = [
        f"canary {ce}/{cr} errors ({_pct(ce, cr)}) vs baseline {be}/{br} ({_pct(be, br)})",
        f"regression e={_e(errors.get('peak_log_e'))} (rollback at "
        f"{_e(judge.get('rollback_threshold_log_e'))})",
        f"safety e={_e(errors.get('clear_log_e'))} (clears at "
        f"{_e(judge.get('clear_threshold_log_e'))})",
        f"{judge.get('minutes_with_data', 0)} metric minute(s)",
    ]
    return "; ".join(parts)


def phase_label(rollout: Mapping[str, Any]) -> str:
    phase = str(rollout.get("phase", "?"))
    stage = int(rollout.get("stage", -1))
    if phase == "Canary" and stage >= 0:
        stages = (rollout.get("policy") or {}).get("stages") or []
        weight = stages[stage]["weight"] if stage < len(stages) else "?"
        return f"Canary stage {stage} ({weight} %)"
    return phase


def decision_line(decision: Mapping[str, Any], rollout: Mapping[str, Any]) -> str | None:
    """The line for one decision record, or None when it is routine (holds, confirmations)."""
    phase_from, phase_to = decision.get("phase_from"), decision.get("phase_to")
    stage_from, stage_to = decision.get("stage_from"), decision.get("stage_to")
    reason = str(decision.get("reason", ""))
    moved = phase_from != phase_to or stage_from != stage_to
    if not moved and reason not in NOTABLE_REASONS:
        return None
    where = f"{phase_from} -> {phase_to}" if phase_from != phase_to else str(phase_to)
    if phase_to == "Canary":
        stages = (rollout.get("policy") or {}).get("stages") or []
        index = int(stage_to if isinstance(stage_to, int) else -1)
        if 0 <= index < len(stages):
            where += f" stage {index} ({stages[index]['weight']} %)"
    text = f"{where}  [{reason}] {decision.get('message', '')}".rstrip()
    effects = decision.get("effects") or []
    for effect in effects:
        if effect.get("kind") == "set_traffic":
            text += f"\n      split asked: {split_text(effect['traffic'], effect['mirror'])}"
    evidence = decision.get("evidence") or {}
    summary = judge_summary(evidence)
    if summary:
        verdict = evidence.get("verdict_reason") or evidence.get("verdict") or ""
        text += f"\n      judge {verdict}: {summary}"
    if reason == "AlertFired":
        text += (
            f"\n      alert {evidence.get('rule', '?')} fired at {evidence.get('fired_at', '?')} "
            f"(by {decision.get('actor', '?')})"
        )
    return text


class Narrator:
    """Prints lines and keeps one progress line at the bottom when writing to a terminal.

    When the output is not a terminal the progress is printed as a plain line at most every
    ``plain_every`` seconds instead.
    """

    def __init__(
        self, stream: TextIO | None = None, tty: bool | None = None, plain_every: float = 10.0
    ) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.plain_every = plain_every
        self.start = time.monotonic()
        self._progress = ""
        self._last_plain = 0.0
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def _clear(self) -> None:
        if self.tty and self._progress:
            self.stream.write("\r\x1b[2K")
            self._progress = ""

    def line(self, text: str) -> None:
        with self._lock:
            self._clear()
            stamp = f"[{self.elapsed():6.1f}s] "
            indent = " " * len(stamp)
            lines = text.splitlines() or [""]
            self.stream.write(stamp + lines[0] + "\n")
            for more in lines[1:]:
                self.stream.write(indent + more.lstrip() + "\n" if more.strip() else "\n")
            self.stream.flush()

    def progress(self, text: str) -> None:
        with self._lock:
            stamp = f"[{self.elapsed():6.1f}s] "
            if self.tty:
                width = shutil.get_terminal_size((120, 20)).columns - 1
                shown = (stamp + text)[:width]
                self.stream.write("\r\x1b[2K" + shown)
                self.stream.flush()
                self._progress = shown
                return
            now = time.monotonic()
            if now - self._last_plain >= self.plain_every:
                self._last_plain = now
                self.stream.write(stamp + "... " + text + "\n")
                self.stream.flush()

    def done(self) -> None:
        with self._lock:
            self._clear()
            self.stream.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain fixed-width table."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [fmt(headers), fmt(["-" * w for w in widths])]
    out += [fmt(row) for row in rows]
    return "\n".join(out)
