"""The ceiling: how often, and how soon, *any* rule with at most alpha false rollbacks can detect
a bad canary in a scenario (numpy, vectorised).

A goal "detect as often and as soon as savvi" means nothing where savvi pays for its detections
with more false rollbacks than the goal allows (canary-only overdispersion). The ceiling says
which of those figures any rule could reach within the false-rollback budget.

Why it bounds every rule. In a scenario the good canary is one fully known law of the data (the
simulator's), and so is the bad one. A sequential rule that rolls a good canary back at most
alpha of the time over the horizon has, for every minute t, rolled it back by t at most alpha of
the time: its "rolled back by minute t" is a level-alpha test of the data up to t. By the
Neyman-Pearson lemma none has more power than the likelihood-ratio test of the good law against
the bad one on that data. So ``power[t]``, that test's power with the data up to minute t, is
an upper bound on any such rule's chance to have rolled back by minute t. A rule's median time
to detect (a rollout never rolled back counting as after the horizon) is then at least the
first minute where the ceiling reaches 1/2, its p90 at least the first where it reaches 9/10.

The oracle knows what no judge knows (the baseline's true error rate, the law of the canary's
noise, the size of the regression); the bound holds for rules that know less. Its likelihood
of a minute's canary errors ``x`` out of ``n`` is the simulator's, the binomial mixed over the
canary-only lognormal noise ``L`` (mean 1), by quadrature over its log scale:

    P(x | n, f) = E_L[ Binomial(x; n, min(1, f * p * L)) ]

and the baseline's counts do not depend on the canary's truth, so they drop out. The level is
set from ``rollouts`` simulated good canaries (Monte Carlo; at 20000 the realised level is
within about 0.15 points of alpha) and the power measured on as many bad ones.

The ceiling is a bound minute by minute: the test that reaches it at minute 7 is not the one
that reaches it at minute 16, and no single rule need reach both. So beside it stands a rule
(:func:`wald`): Wald's sequential probability ratio test of the same two laws, knowing all the
oracle knows, rolling back the first minute its likelihood ratio crosses a threshold set so that
a good canary is rolled back exactly alpha of the time over ``LEVEL_SPAN`` times the horizon
(the ratio drifts down under a good canary, so later crossings are negligible: a level for a
stage of any length, as the judge's is). What it detects, and how soon, is what the best-informed
rule valid at any horizon gets; a figure beyond it is one a rule reaches by not staying within
alpha at every horizon (or by spending alpha on this horizon alone).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bench._judge_sim import FloatArray, IntArray, Scenario, Series, Truth, simulate

NODES = 1201  # grid points over the noise's log scale, z in [-Z_SPAN, Z_SPAN]
Z_SPAN = 10.0
ROLLOUTS = 20_000
LEVEL_SPAN = 4  # Wald's threshold: level alpha over this many horizons of good-canary minutes


@dataclass(frozen=True)
class Ceiling:
    alpha: float
    power: tuple[float, ...]  # per minute t (index t: data up to and including minute t)
    rollouts: int

    def first_minute(self, share: float) -> int | None:
        """The first minute (1-based, as the benchmark's times) at which the ceiling reaches
        ``share``; None when it never does within the horizon."""
        for t, p in enumerate(self.power):
            if p >= share:
                return t + 1
        return None

    def to_dict(self) -> dict[str, object]:
        return {
            "alpha": self.alpha,
            "rollouts": self.rollouts,
            "detected_by_horizon": round(self.power[-1], 4),
            "median_minutes_at_least": self.first_minute(0.5),
            "p90_minutes_at_least": self.first_minute(0.9),
            "by_minute": [round(p, 4) for p in self.power],
        }


def supported(scenario: Scenario) -> bool:
    """Scenarios whose laws the oracle writes down: constant baseline rate, canary noise
    lognormal or none, every minute read final."""
    return not (scenario.drift or scenario.late or scenario.overdispersion_shape > 0)


def wald_supported(scenario: Scenario) -> bool:
    """Scenarios Wald's level can be set for: the oracle's, with one canary share throughout
    (a staged scenario's later minutes have a share the long run would have to invent)."""
    weights, _ = scenario.weights()
    return supported(scenario) and len(set(weights.tolist())) == 1


def _noise(sd: float) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights of the lognormal noise (mean 1): the normal density on a fine uniform
    grid of the log scale (the trapezoid rule, exponentially accurate for this smooth, rapidly
    decaying integrand; Gauss-Hermite's few nodes miss the narrow peak of the binomial at large
    counts). One node of weight 1 when there is no noise."""
    if sd <= 0:
        return np.ones(1), np.ones(1)
    z = np.linspace(-Z_SPAN, Z_SPAN, NODES)
    w = np.exp(-0.5 * z * z)
    return np.exp(-0.5 * sd * sd + sd * z), w / w.sum()


def log_likelihood(x: IntArray, n: IntArray, rate: float, factor: float, sd: float) -> FloatArray:
    """log P(x | n, canary rate ``factor x rate x L``), L lognormal with mean 1 and log-scale
    sd ``sd`` (none when 0), up to a term in (x, n) alone (the binomial coefficient, common to
    every hypothesis). Computed once per distinct (x, n) pair."""
    noise, weights = _noise(sd)
    flat_x, flat_n = np.ravel(x).astype(np.int64), np.ravel(n).astype(np.int64)
    span = int(flat_n.max(initial=0)) + 1
    keys, inverse = np.unique(flat_x * span + flat_n, return_inverse=True)
    xs, ns = ((keys // span)[:, None].astype(np.float64), (keys % span)[:, None].astype(np.float64))
    p = np.clip(factor * rate * noise, 1e-300, 1.0 - 1e-12)[None, :]  # the simulator clips at 1
    terms = xs * np.log(p) + (ns - xs) * np.log1p(-p)
    top = terms.max(axis=1, keepdims=True)
    each = top[:, 0] + np.log((np.exp(terms - top) * weights).sum(axis=1))
    out: FloatArray = each[np.ravel(inverse)].reshape(np.shape(x))
    return out


def log_ratio(s: Series, scenario: Scenario, truth: Truth) -> FloatArray:
    """Cumulative log likelihood ratio, bad over good, after each minute (rollouts x minutes)."""
    sd, rate = scenario.overdispersion_sd, scenario.baseline_error_rate
    step = log_likelihood(s.x, s.n, rate, truth.error, sd) - log_likelihood(s.x, s.n, rate, 1.0, sd)
    out: FloatArray = np.cumsum(step, axis=1)
    return out


def _check(scenario: Scenario, truth: Truth, alpha: float) -> None:
    if not supported(scenario):
        raise ValueError(f"no oracle for scenario {scenario.name!r}: its law is not written down")
    if truth.good or truth.latency != 1.0:
        raise ValueError("the oracle is of detection: truth must be an error regression")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def ceiling(
    scenario: Scenario, truth: Truth, alpha: float, seed: int, rollouts: int = ROLLOUTS
) -> Ceiling:
    """The Neyman-Pearson ceiling of the scenario's bad cell ``truth`` at level ``alpha``."""
    _check(scenario, truth, alpha)
    good = simulate(scenario, Truth(), rollouts, seed)
    bad = simulate(scenario, truth, rollouts, seed + 1)
    null, alt = log_ratio(good, scenario, truth), log_ratio(bad, scenario, truth)
    power = []
    for t in range(scenario.minutes):
        threshold = float(np.quantile(null[:, t], 1.0 - alpha, method="higher"))
        power.append(float((alt[:, t] > threshold).mean()))
    return Ceiling(alpha=alpha, power=tuple(power), rollouts=rollouts)


@dataclass(frozen=True)
class Wald:
    """Wald's test of a cell's two laws at its exact level (see the module docstring): the
    share of bad canaries rolled back by the horizon, and the median / p90 minute of the
    rollback over every rollout (None: after the horizon), as the benchmark's rows count."""

    alpha: float
    threshold: float  # on the log likelihood ratio
    false_rollbacks: float  # good canaries rolled back within the horizon
    detected: float
    median_minutes_all: float | None
    p90_minutes_all: float | None
    rollouts: int

    def to_dict(self) -> dict[str, object]:
        return {
            "alpha": self.alpha,
            "rollouts": self.rollouts,
            "log_threshold": round(self.threshold, 4),
            "false_rollbacks_by_horizon": round(self.false_rollbacks, 4),
            "detected_by_horizon": round(self.detected, 4),
            "median_minutes_all": self.median_minutes_all,
            "p90_minutes_all": self.p90_minutes_all,
        }


def first_crossing(ratio: FloatArray, threshold: float) -> IntArray:
    """Per rollout, the minute index at which the log ratio first reaches ``threshold``
    (-1: never)."""
    hit = ratio >= threshold
    out: IntArray = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    return out


def wald(
    scenario: Scenario, truth: Truth, alpha: float, seed: int, rollouts: int = ROLLOUTS
) -> Wald:
    """Wald's sequential test of the cell's bad law ``truth`` against the good one, its
    threshold the good canaries' (1 - alpha) quantile of the ratio's maximum over
    ``LEVEL_SPAN`` horizons."""
    _check(scenario, truth, alpha)
    horizon = scenario.minutes
    long = replace(scenario, minutes=horizon * LEVEL_SPAN)
    if not wald_supported(scenario):
        raise ValueError(f"no Wald level for scenario {scenario.name!r}: its split changes")
    null = log_ratio(simulate(long, Truth(), rollouts, seed), long, truth)
    threshold = float(np.quantile(null.max(axis=1), 1.0 - alpha, method="higher"))
    alt = first_crossing(
        log_ratio(simulate(scenario, truth, rollouts, seed + 1), scenario, truth), threshold
    )
    minutes = np.where(alt >= 0, alt + 1, horizon + 1)

    def censored(value: float) -> float | None:
        return float(value) if value <= horizon else None

    return Wald(
        alpha=alpha,
        threshold=threshold,
        false_rollbacks=float((first_crossing(null[:, :horizon], threshold) >= 0).mean()),
        detected=float((alt >= 0).mean()),
        median_minutes_all=censored(float(np.median(minutes))),
        p90_minutes_all=censored(float(np.percentile(minutes, 90))),
        rollouts=rollouts,
    )


def beyond(ceiling_: dict[str, Any], row: dict[str, Any]) -> dict[str, bool]:
    """Which of a row's detection figures no rule within the ceiling's false-rollback budget can
    reach (``ceiling_``: :meth:`Ceiling.to_dict`): a detection rate whose 95 % interval lies
    wholly above the ceiling, or a median / p90 time to detect before its bound (the row's
    times over every rollout; None: after the horizon). Keyed by the row's figure."""
    return _beyond(ceiling_, row, "median_minutes_at_least", "p90_minutes_at_least")


def beyond_wald(wald_: dict[str, Any], row: dict[str, Any]) -> dict[str, bool]:
    """Which of a row's detection figures are better than Wald's test knowing the law
    (``wald_``: :meth:`Wald.to_dict`), by the same reading as :func:`beyond`."""
    return _beyond(wald_, row, "median_minutes_all", "p90_minutes_all")


def _beyond(bound_: dict[str, Any], row: dict[str, Any], median: str, p90: str) -> dict[str, bool]:
    out = {"rollback_rate": bool(row["rollback_ci95"][0] > bound_["detected_by_horizon"])}
    for key, bound_key in (("median_minutes_all", median), ("p90_minutes_all", p90)):
        bound, value = bound_[bound_key], row[key]
        out[key] = value is not None and (bound is None or value < bound)
    return out
