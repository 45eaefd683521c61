"""Simulated canary traffic with known truth for the judge benchmark (numpy, vectorised).

100 req/s in total by default, Poisson per minute, split by the configured canary weight;
baseline error rate 0.5 % by default (optionally drifting, with bad minutes common to both
deployments); canary error rate = multiple x baseline (optionally with canary-only
overdispersion: gamma, or lognormal with mean 1); lognormal latency (median 50 ms, sigma 0.5 on
the log scale), canary latency = multiple x baseline.

Late and revised minutes (``late``): the newest minute, when first read, is partly ingested:
each side's request and error counts are seen as binomial thinnings with their own fractions,
uniform in [0.4, 1] (the two metrics arrive separately); the next read sees it final.

Per-minute percentiles are drawn exactly as sample quantiles (the k-th order statistic of n
uniforms is Beta(k, n + 1 - k)); exceedance counts are binomial given the threshold, which is
the baseline's sample quantile of the previous minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

REQUESTS_PER_MINUTE = 6000
BASELINE_ERROR_RATE = 0.005
LATENCY_MEDIAN_MS = 50.0
LATENCY_SIGMA = 0.5
LEVELS = (0.5, 0.9, 0.99)

_inv_phi = np.vectorize(NormalDist().inv_cdf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _upper_tail(z: FloatArray) -> FloatArray:
    """P(Z > z) for a standard normal Z."""
    out: FloatArray = 0.5 * _erfc(z / math.sqrt(2.0))
    return out


@dataclass(frozen=True)
class Scenario:
    name: str
    minutes: int
    stages: tuple[tuple[int, float], ...]  # (first minute, canary weight)
    drift: bool = False  # baseline error rate ramps x1 -> x3, plus common bad minutes
    overdispersion_shape: float = 0.0  # gamma shape of canary-only noise (0: none)
    # lognormal sd (log scale) of canary-only noise on its error rate, mean 1 (0: none)
    overdispersion_sd: float = 0.0
    requests_per_minute: int = REQUESTS_PER_MINUTE
    baseline_error_rate: float = BASELINE_ERROR_RATE
    late: bool = False  # the newest minute is first seen partly ingested (see the docstring)

    def weights(self) -> tuple[FloatArray, IntArray]:
        w = np.zeros(self.minutes)
        s = np.zeros(self.minutes, dtype=np.int64)
        for i, (start, weight) in enumerate(self.stages):
            w[start:] = weight
            s[start:] = i
        return w, s


@dataclass(frozen=True)
class Truth:
    error: float = 1.0
    latency: float = 1.0

    @property
    def good(self) -> bool:
        return self.error == 1.0 and self.latency == 1.0


@dataclass
class Series:
    n: IntArray  # canary requests (R, T)
    x: IntArray  # canary errors
    m: IntArray  # baseline requests
    y: IntArray  # baseline errors
    stage: IntArray  # stage index per minute (T,)
    canary_pct: dict[float, FloatArray] = field(default_factory=dict)  # NaN: no requests
    baseline_pct: dict[float, FloatArray] = field(default_factory=dict)
    # level -> (threshold, canary_threshold, canary_slow, baseline_slow)
    exceedances: dict[float, tuple[FloatArray, FloatArray, IntArray, IntArray]] = field(
        default_factory=dict
    )
    # late scenarios: (n, x, m, y) of each minute as first seen, partly ingested
    seen: tuple[IntArray, IntArray, IntArray, IntArray] | None = None

    @property
    def rollouts(self) -> int:
        return int(self.n.shape[0])

    @property
    def minutes(self) -> int:
        return int(self.n.shape[1])


def _sample_quantile_z(rng: np.random.Generator, count: IntArray, level: float) -> FloatArray:
    """Standard-normal sample L-quantile of ``count`` draws (NaN where count is 0)."""
    safe = np.maximum(count, 1)
    k = np.maximum(1, np.ceil(level * safe)).astype(np.int64)
    u = rng.beta(k, safe + 1 - k)
    u = np.clip(u, 1e-15, 1 - 1e-15)
    z: FloatArray = _inv_phi(u)
    return np.where(count > 0, z, np.nan)


def simulate(
    scenario: Scenario,
    truth: Truth,
    rollouts: int,
    seed: int,
    *,
    latency: bool = False,
    latency_margin: float = 0.0,
) -> Series:
    rng = np.random.default_rng(seed)
    shape = (rollouts, scenario.minutes)
    w, stage = scenario.weights()
    total = rng.poisson(scenario.requests_per_minute, shape)
    n = rng.binomial(total, w[None, :])
    m = total - n
    pb = np.full(shape, scenario.baseline_error_rate)
    if scenario.drift:
        ramp = 1.0 + 2.0 * np.arange(scenario.minutes) / scenario.minutes
        spikes = np.where(rng.random(shape) < 0.05, 4.0, 1.0)
        pb = pb * ramp[None, :] * spikes
    pc = pb * truth.error
    if scenario.overdispersion_shape > 0:
        k = scenario.overdispersion_shape
        pc = pc * rng.gamma(k, 1.0 / k, shape)
    if scenario.overdispersion_sd > 0:
        sd = scenario.overdispersion_sd
        pc = pc * rng.lognormal(-0.5 * sd * sd, sd, shape)
    x = rng.binomial(n, np.clip(pc, 0.0, 1.0))
    y = rng.binomial(m, np.clip(pb, 0.0, 1.0))
    series = Series(n=n, x=x, m=m, y=y, stage=stage)
    if scenario.late:
        sn, sx, sm, sy = (rng.binomial(v, rng.uniform(0.4, 1.0, shape)) for v in (n, x, m, y))
        series.seen = (sn, sx, sm, sy)
    if not latency:
        return series
    mu = math.log(LATENCY_MEDIAN_MS)
    shift = math.log(truth.latency)
    # One warm-up minute of baseline traffic gives the first minute's thresholds.
    m_prev = rng.binomial(rng.poisson(scenario.requests_per_minute, rollouts), 1.0 - w[0])
    m_ext = np.concatenate([m_prev[:, None], m], axis=1)
    for level in LEVELS:
        zc = _sample_quantile_z(rng, n, level)
        zb_ext = _sample_quantile_z(rng, m_ext, level)
        series.canary_pct[level] = np.exp(mu + shift + LATENCY_SIGMA * zc)
        series.baseline_pct[level] = np.exp(mu + LATENCY_SIGMA * zb_ext[:, 1:])
        z_tau = zb_ext[:, :-1]  # baseline sample quantile of the previous minute
        valid = ~np.isnan(z_tau)
        z_tau = np.where(valid, z_tau, 0.0)
        threshold = np.exp(mu + LATENCY_SIGMA * z_tau)
        canary_threshold = threshold * (1.0 + latency_margin)
        p_canary = _upper_tail(z_tau + (math.log1p(latency_margin) - shift) / LATENCY_SIGMA)
        p_base = _upper_tail(z_tau)
        cs = np.where(valid, rng.binomial(n, p_canary), 0)
        bs = np.where(valid, rng.binomial(m, p_base), 0)
        threshold = np.where(valid, threshold, np.nan)
        series.exceedances[level] = (threshold, canary_threshold, cs, bs)
    return series
