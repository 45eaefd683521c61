"""SimMetrics: per-minute metrics drawn from what each deployment was served, answered as the
Azure Monitor adapter answers (closed minutes, requests on either side, P50/P90/P99)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import FakeClock
from shared.effects import CreateDeployment
from shared.errors import NoData
from shared.fakes.clocked_endpoints import ClockedEndpoints
from shared.model import ModelRef
from shared.ports import MetricsQuery
from shared.simulation.scenario import Behaviour, MetricsSpec, SeriesMinute
from shared.simulation.traffic import SimMetrics


def world(
    spec: MetricsSpec | None = None,
    behaviour: dict[str, Behaviour] | None = None,
    series: tuple[SeriesMinute, ...] = (),
    seed: int = 3,
) -> tuple[FakeClock, ClockedEndpoints, SimMetrics]:
    clock = FakeClock()
    eps = ClockedEndpoints(clock, provisioning_s=0)
    eps.add_endpoint("fraud", {"blue": "azureml:fraud:1"}, {"blue": 100})
    eps.create_deployment("fraud", CreateDeployment("fraud-v2", "blue", ModelRef("fraud", "2")))
    metrics = SimMetrics(
        clock,
        eps,
        start=clock.now(),
        requests_per_minute=6000,
        behaviour=behaviour
        if behaviour is not None
        else {"blue": Behaviour(error_rate=0.01, latency_ms=50)},
        spec=spec or MetricsSpec(),
        seed=seed,
        series=series,
    )
    eps.before_change = metrics.accrue
    return clock, eps, metrics


def minutes(clock: FakeClock, metrics: SimMetrics, minutes_from: int = 0):
    q = MetricsQuery(
        "fraud", "fraud-v2", "blue", metrics._start + timedelta(minutes=minutes_from), clock.now()
    )
    return list(metrics.stage_minutes([q])["fraud"])


def test_counts_follow_the_live_split() -> None:
    clock, eps, metrics = world()
    eps.set_traffic("fraud", {"blue": 90, "fraud-v2": 10}, {})
    clock.advance(30 * 60)
    got = minutes(clock, metrics)
    assert len(got) == 30
    canary = sum(m.canary_requests for m in got)
    baseline = sum(m.baseline_requests for m in got)
    assert canary / (canary + baseline) == pytest.approx(0.10, abs=0.005)
    assert (canary + baseline) / 30 == pytest.approx(6000, rel=0.01)


def test_a_split_changed_mid_minute_is_counted_pro_rata() -> None:
    clock, eps, metrics = world()
    clock.advance(30)
    eps.set_traffic("fraud", {"blue": 50, "fraud-v2": 50}, {})
    clock.advance(30)
    (m,) = minutes(clock, metrics)
    assert m.canary_requests / (m.canary_requests + m.baseline_requests) == pytest.approx(
        0.25, abs=0.02
    )


def test_errors_follow_the_behaviour_inherited_from_the_source() -> None:
    clock, eps, metrics = world(
        behaviour={"blue": Behaviour(error_rate=0.01), "fraud:2": Behaviour(error_factor=3.0)}
    )
    eps.set_traffic("fraud", {"blue": 50, "fraud-v2": 50}, {})
    clock.advance(60 * 60)
    got = minutes(clock, metrics)
    c_rate = sum(m.canary_errors for m in got) / sum(m.canary_requests for m in got)
    b_rate = sum(m.baseline_errors for m in got) / sum(m.baseline_requests for m in got)
    assert b_rate == pytest.approx(0.01, rel=0.1)
    assert c_rate == pytest.approx(0.03, rel=0.1)


def test_mirrored_copies_count_only_when_mirror_counted() -> None:
    for counted in (True, False):
        clock, eps, metrics = world(MetricsSpec(mirror_counted=counted))
        eps.set_traffic("fraud", {"blue": 100}, {"fraud-v2": 20})
        clock.advance(10 * 60)
        got = minutes(clock, metrics)
        canary = sum(m.canary_requests for m in got)
        if counted:
            assert canary / (10 * 6000) == pytest.approx(0.2, abs=0.01)
        else:
            assert canary == 0


def test_a_minute_is_visible_only_after_the_delay() -> None:
    clock, eps, metrics = world(MetricsSpec(delay=120))
    eps.set_traffic("fraud", {"blue": 90, "fraud-v2": 10}, {})
    clock.advance(60)
    assert minutes(clock, metrics) == []
    clock.advance(120)
    assert len(minutes(clock, metrics)) == 1


def test_minutes_in_an_outage_are_never_reported() -> None:
    clock, eps, metrics = world(MetricsSpec(outages=((120.0, 300.0),)))
    eps.set_traffic("fraud", {"blue": 90, "fraud-v2": 10}, {})
    clock.advance(10 * 60)
    starts = [
        int((m.start - metrics._start).total_seconds() // 60) for m in minutes(clock, metrics)
    ]
    assert starts == [0, 1, 5, 6, 7, 8, 9]


def test_an_unavailable_source_raises_no_data() -> None:
    clock, _, metrics = world(MetricsSpec(unavailable=((0.0, 600.0),)))
    clock.advance(60)
    with pytest.raises(NoData):
        minutes(clock, metrics)


def test_percentiles_are_log_normal_sample_quantiles_and_none_without_requests() -> None:
    clock, _eps, metrics = world(behaviour={"blue": Behaviour(latency_ms=50, latency_sigma=0.5)})
    clock.advance(5 * 60)
    got = minutes(clock, metrics)
    assert all(m.canary_requests == 0 and m.canary_p50 is None for m in got)
    for m in got:
        assert m.baseline_p50 == pytest.approx(50, rel=0.05)
        assert m.baseline_p99 == pytest.approx(50 * 3.2, rel=0.1)  # exp(2.326 x 0.5)
        assert m.baseline_p50 < m.baseline_p90 < m.baseline_p99


@pytest.mark.parametrize("rpm", [6000, 200], ids=["normal-approximation", "drawn-one-by-one"])
def test_p95_is_filled_between_p90_and_p99_for_the_guardrails(rpm: int) -> None:
    """RequestLatency_P95 feeds the absolute guardrails: the simulated minutes carry it."""
    clock, _eps, metrics = world(behaviour={"blue": Behaviour(latency_ms=50, latency_sigma=0.5)})
    metrics.requests_per_minute = rpm
    clock.advance(5 * 60)
    got = minutes(clock, metrics)
    assert got and all(m.canary_p95 is None for m in got)
    for m in got:
        assert m.baseline_p95 is not None and m.baseline_p90 is not None
        assert m.baseline_p90 <= m.baseline_p95 <= (m.baseline_p99 or 0)
        assert m.baseline_p95 == pytest.approx(50 * 2.276, rel=0.2)  # exp(1.645 x 0.5)


def test_a_series_gives_each_minute_its_requests_and_error_rate() -> None:
    series = (SeriesMinute(1000, 0), SeriesMinute(2000, 200))
    clock, _eps, metrics = world(behaviour={}, series=series)
    clock.advance(4 * 60)
    got = minutes(clock, metrics)
    assert [m.baseline_requests for m in got] == [1000, 2000, 1000, 2000]
    assert got[0].baseline_errors == 0 and got[1].baseline_errors > 100


def test_the_draws_are_the_same_for_the_same_seed() -> None:
    runs = []
    for _ in range(2):
        clock, eps, metrics = world(seed=11)
        eps.set_traffic("fraud", {"blue": 90, "fraud-v2": 10}, {})
        clock.advance(5 * 60)
        runs.append(minutes(clock, metrics))
    assert runs[0] == runs[1]
