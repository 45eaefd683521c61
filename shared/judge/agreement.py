"""Agreement of two deployments' answers to the same inputs (the shadow comparison). Pure.

A classifier's answers are compared by their label flip rate (the share of paired labels that
differ); scores by their mean absolute difference and the population stability index (PSI) of
the canary's scores against the baseline's, over the baseline's deciles:

    PSI = sum_i (c_i - b_i) * ln(c_i / b_i)

with b_i, c_i the shares of baseline and canary scores in bin i (each share at least 1e-4 so
an empty bin stays finite). PSI below 0.1 is read as no shift, above 0.25 as a large one
(Yurdakul, "Statistical properties of population stability index", 2018). Only counts and
these summaries leave this module, never an input or an output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PSI_BINS = 10
PSI_FLOOR = 1e-4
# fewer paired answers than this and the comparison is no data, never a pass
MIN_PAIRED = 20
_LABEL_KEYS = ("labels", "label", "predictions", "prediction", "classes")
_SCORE_KEYS = ("probabilities", "probability", "scores", "score")


@dataclass(frozen=True)
class Outputs:
    """What one answer says: its labels and/or its scores (flattened, in order)."""

    labels: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()


@dataclass(frozen=True)
class Agreement:
    """Summary of a comparison: counts, the measures that could be computed, and which
    bounds were exceeded (``breaches``: measure -> (value, bound))."""

    samples: int
    paired: int
    labels: int = 0
    flip_rate: float | None = None
    scores: int = 0
    mean_abs_diff: float | None = None
    psi: float | None = None
    breaches: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    no_data: str | None = None

    @property
    def agrees(self) -> bool:
        return self.no_data is None and not self.breaches

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"samples": self.samples, "paired": self.paired}
        if self.labels:
            out["labels"] = self.labels
            out["flip_rate"] = _round(self.flip_rate)
        if self.scores:
            out["scores"] = self.scores
            out["mean_abs_diff"] = _round(self.mean_abs_diff)
            out["psi"] = _round(self.psi)
        if self.breaches:
            out["breaches"] = {
                k: {"value": _round(v), "bound": b} for k, (v, b) in self.breaches.items()
            }
        if self.no_data:
            out["no_data"] = self.no_data
        return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def parse_outputs(body: bytes) -> Outputs | None:
    """Labels and scores of one JSON answer: an object with ``labels``/``probabilities``
    (or ``predictions``/``scores``...), or a bare list (whole numbers or strings: labels;
    other numbers: scores). None when the answer is neither."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(value, Mapping):
        labels = next((value[k] for k in _LABEL_KEYS if k in value), None)
        scores = next((value[k] for k in _SCORE_KEYS if k in value), None)
        out = Outputs(_labels(labels), _scores(scores))
        return out if out.labels or out.scores else None
    if isinstance(value, list):
        flat = _flatten(value)
        if flat and all(isinstance(v, str | bool) or _whole(v) for v in flat):
            return Outputs(labels=tuple(str(v) for v in flat))
        scores = _scores(flat)
        return Outputs(scores=scores) if scores else None
    return None


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    return [value]


def _labels(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in _flatten(value))


def _scores(value: Any) -> tuple[float, ...]:
    if value is None:
        return ()
    flat = _flatten(value)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        return ()
    return tuple(float(v) for v in flat)


def psi(baseline: Sequence[float], canary: Sequence[float], bins: int = PSI_BINS) -> float:
    """Population stability index of ``canary`` against ``baseline`` over the baseline's
    quantile bins."""
    import numpy as np  # on first use: no heavy import when the app indexes

    b = np.asarray(baseline, dtype=float)
    c = np.asarray(canary, dtype=float)
    edges = np.unique(np.quantile(b, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:  # every baseline score equal: one bin for it, one for the rest
        bs = np.array([1.0, 0.0])
        same = float(np.mean(c == b[0]))
        cs = np.array([same, 1.0 - same])
    else:
        inner = edges[1:-1]
        bs = np.bincount(np.searchsorted(inner, b, side="right"), minlength=inner.size + 1)
        cs = np.bincount(np.searchsorted(inner, c, side="right"), minlength=inner.size + 1)
        bs = bs / bs.sum()
        cs = cs / cs.sum()
    bs = np.maximum(bs, PSI_FLOOR)
    cs = np.maximum(cs, PSI_FLOOR)
    return float(np.sum((cs - bs) * np.log(cs / bs)))


def agreement(
    pairs: Sequence[tuple[Outputs | None, Outputs | None]],
    *,
    flip_rate: float | None,
    psi_bound: float | None,
    mean_abs_diff: float | None,
    min_paired: int = MIN_PAIRED,
) -> Agreement:
    """Compare (baseline, canary) outputs of the same inputs against the bounds. A pair
    with an unreadable side, or sides of different lengths, is left out (not paired)."""
    import numpy as np

    b_labels: list[str] = []
    c_labels: list[str] = []
    b_scores: list[float] = []
    c_scores: list[float] = []
    paired = 0
    for base, can in pairs:
        if base is None or can is None:
            continue
        used = False
        if base.labels and len(base.labels) == len(can.labels):
            b_labels.extend(base.labels)
            c_labels.extend(can.labels)
            used = True
        if base.scores and len(base.scores) == len(can.scores):
            b_scores.extend(base.scores)
            c_scores.extend(can.scores)
            used = True
        paired += used
    if paired < min_paired:
        return Agreement(
            len(pairs), paired, no_data=f"{paired} answers paired, fewer than {min_paired}"
        )
    flips = mad = shift = None
    breaches: dict[str, tuple[float, float]] = {}
    if b_labels:
        flips = float(np.mean(np.asarray(b_labels) != np.asarray(c_labels)))
        if flip_rate is not None and flips > flip_rate:
            breaches["flip_rate"] = (flips, flip_rate)
    if b_scores:
        bs, cs = np.asarray(b_scores), np.asarray(c_scores)
        mad = float(np.mean(np.abs(bs - cs)))
        shift = psi(b_scores, c_scores)
        if mean_abs_diff is not None and mad > mean_abs_diff:
            breaches["mean_abs_diff"] = (mad, mean_abs_diff)
        if psi_bound is not None and shift > psi_bound:
            breaches["psi"] = (shift, psi_bound)
    return Agreement(
        samples=len(pairs),
        paired=paired,
        labels=len(b_labels),
        flip_rate=flips,
        scores=len(b_scores),
        mean_abs_diff=mad,
        psi=shift,
        breaches=breaches,
    )
