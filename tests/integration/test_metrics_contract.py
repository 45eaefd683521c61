"""One contract for MetricsSource, run against FakeMetrics and against MonitorMetricsSource on
the local emulator (stock azure-monitor-querymetrics over HTTPS, metrics computed from requests
the emulator really served), so the fake stays honest."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulator.testing import app_settings
from shared.azure import retry
from shared.errors import NoData
from shared.fakes.metrics import Behaviour, FakeMetrics
from shared.judge.types import Minute
from shared.model import ModelRef
from shared.ports import MetricsQuery, MetricsSource

pytestmark = pytest.mark.integration

FAST = retry.RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, budget=0.5)
BUCKET_S = 1.0  # the emulator's "minute" in these tests
CANARY_REQUESTS, BASELINE_REQUESTS = 12, 18
SETTLE_MINUTES = 3  # the emulator's default metric ingestion delay (2) plus revision (1)


@dataclass
class Scenario:
    """Traffic that already happened: on ``endpoint`` the canary failed every request and the
    baseline none; ``quiet`` served nothing. The totals are what [start, end) holds."""

    name: str
    source: MetricsSource
    unavailable: Callable[[], MetricsSource]
    endpoint: str
    quiet: str
    start: datetime
    end: datetime
    step: timedelta
    canary_total: int
    baseline_total: int
    canary: str = "green"
    baseline: str = "blue"
    mirrored: tuple[str, datetime, datetime, int] | None = None  # endpoint, window, copies
    conn: Any = None  # the emulator's connection (its admin API), on the emulator only

    def query(self, endpoint: str | None = None) -> MetricsQuery:
        return MetricsQuery(
            endpoint or self.endpoint, self.canary, self.baseline, self.start, self.end
        )


# ------------------------------------------------------------------ the fake

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _fake_scenario() -> Scenario:
    def share(endpoint: str, deployment: str) -> float:
        if endpoint == "ep-quiet":
            return 0.0
        return 0.1 if deployment == "green" else 0.9

    fake = FakeMetrics(share=share, requests_per_minute=600)
    fake.script("ep-busy", "green", Behaviour(error_rate=1.0))
    fake.script("ep-busy", "blue", Behaviour(error_rate=0.0))
    broken = FakeMetrics()
    broken.unavailable = True
    start, end = T0 + timedelta(seconds=30), T0 + timedelta(minutes=4, seconds=30)
    # Closed minutes in [start, end): 12:01, 12:02, 12:03.
    return Scenario(
        "fake",
        fake,
        lambda: broken,
        "ep-busy",
        "ep-quiet",
        start,
        end,
        timedelta(minutes=1),
        canary_total=3 * 60,
        baseline_total=3 * 540,
    )


# ------------------------------------------------------------------ the emulator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_traffic(conn: Any, endpoint: str) -> tuple[datetime, datetime]:
    """Create the endpoint, send the canary's and the baseline's requests inside whole
    buckets, and wait until the last of them closed; returns the window holding them."""
    import requests

    from emulator.client import ml_client
    from emulator.samples import CODE_DIR, MODELS_DIR
    from emulator.testing import admin_request, create_endpoint, make_deployment, set_traffic

    good = ModelRef("fraud", "1")
    admin_request(conn, "POST", "codes", {"name": "score", "version": "1", "path": str(CODE_DIR)})
    admin_request(
        conn,
        "POST",
        "models",
        {"name": "fraud", "version": "1", "path": str(MODELS_DIR / "fraud-v1")},
    )
    ml = ml_client(conn)
    create_endpoint(ml, endpoint)
    for name in ("blue", "green"):
        ml.online_deployments.begin_create_or_update(
            make_deployment(endpoint, name, good.asset_id)
        ).result()
    set_traffic(ml, endpoint, {"blue": 100})
    admin_request(
        conn, "PUT", f"faults/router/{endpoint}/green", {"error_rate": 1.0, "error_status": 500}
    )
    key = ml.online_endpoints.get_keys(endpoint).primary_key
    session = requests.Session()
    url = conn.scoring_uri(endpoint)
    # Start on a bucket boundary, so that every request falls in a bucket inside the window.
    first = math.ceil(time.time() / BUCKET_S) * BUCKET_S
    time.sleep(max(0.0, first - time.time()))
    start = datetime.fromtimestamp(first, UTC)
    for i in range(CANARY_REQUESTS + BASELINE_REQUESTS):
        headers = {"Authorization": f"Bearer {key}"}
        if i < CANARY_REQUESTS:
            headers["azureml-model-deployment"] = "green"
        answer = session.post(
            url,
            json={"data": [[1.0, 2.0, 3.0]]},
            headers=headers,
            timeout=30,
            verify=conn.cert_path,  # per request: REQUESTS_CA_BUNDLE would beat Session.verify
        )
        assert answer.status_code == (500 if i < CANARY_REQUESTS else 200), answer.text
    last_end = (math.floor(time.time() / BUCKET_S) + 1) * BUCKET_S
    time.sleep(max(0.0, last_end - time.time()) + 0.05)
    window_end = datetime.now(UTC)
    # "Already happened" means ingested too: the emulator, like Azure Monitor, shows a minute
    # only after its ingestion delay (2 API minutes) and revision (1 more); wait them out.
    time.sleep(max(0.0, last_end + SETTLE_MINUTES * BUCKET_S - time.time()) + 0.05)
    return start, window_end


def _serve_mirrored(conn: Any, endpoint: str) -> tuple[datetime, datetime, int]:
    """An endpoint serving blue with half its traffic mirrored to green (which fails every
    call); returns the window and how many mirrored copies green served in it."""
    import requests

    from emulator.client import ml_client
    from emulator.testing import admin_request, create_endpoint, make_deployment, set_traffic

    ml = ml_client(conn)
    create_endpoint(ml, endpoint)
    for name in ("blue", "green"):
        ml.online_deployments.begin_create_or_update(
            make_deployment(endpoint, name, ModelRef("fraud", "1").asset_id)
        ).result()
    set_traffic(ml, endpoint, {"blue": 100}, {"green": 50})
    admin_request(
        conn, "PUT", f"faults/router/{endpoint}/green", {"error_rate": 1.0, "error_status": 500}
    )
    key = ml.online_endpoints.get_keys(endpoint).primary_key
    session = requests.Session()
    first = math.ceil(time.time() / BUCKET_S) * BUCKET_S
    time.sleep(max(0.0, first - time.time()))
    start = datetime.fromtimestamp(first, UTC)
    for _ in range(30):
        answer = session.post(
            conn.scoring_uri(endpoint),
            json={"data": [[1.0, 2.0, 3.0]]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
            verify=conn.cert_path,
        )
        assert answer.status_code == 200, answer.text  # mirrored answers are discarded
    last_end = (math.floor(time.time() / BUCKET_S) + 1) * BUCKET_S
    time.sleep(max(0.0, last_end - time.time()) + 0.3)  # mirror copies finish off the hot path
    rows = admin_request(conn, "GET", f"records/summary?since={first}")["rows"]
    copies = sum(
        r["count"]
        for r in rows
        if r["endpoint"] == endpoint and r["deployment"] == "green" and r["mirrored"]
    )
    window_end = datetime.now(UTC)
    # Ingested too: wait out the emulator's ingestion delay and revision, as above.
    time.sleep(max(0.0, last_end + SETTLE_MINUTES * BUCKET_S - time.time()) + 0.05)
    return start, window_end, copies


@pytest.fixture(scope="module")
def emulator_scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    from emulator.testing import running_emulator
    from shared.azure.credentials import build_credential
    from shared.azure.metrics import MonitorMetricsSource

    state = tmp_path_factory.mktemp("metrics-contract")
    with running_emulator(
        state, bucket_seconds=BUCKET_S, provisioning_delay=0.05, retry_after=0.05
    ) as conn:
        start, end = _serve_traffic(conn, "ep-busy")
        m_start, m_end, copies = _serve_mirrored(conn, "ep-mirror")
        settings = app_settings(conn)
        source = MonitorMetricsSource(
            settings, build_credential(settings), granularity_seconds=BUCKET_S, retry_policy=FAST
        )
        dead = app_settings(conn, f"https://127.0.0.1:{_free_port()}")

        def unavailable() -> MetricsSource:
            return MonitorMetricsSource(
                dead, build_credential(dead), granularity_seconds=BUCKET_S, retry_policy=FAST
            )

        yield Scenario(
            "emulator",
            source,
            unavailable,
            "ep-busy",
            "ep-quiet",
            start,
            end,
            timedelta(seconds=BUCKET_S),
            CANARY_REQUESTS,
            BASELINE_REQUESTS,
            mirrored=("ep-mirror", m_start, m_end, copies),
            conn=conn,
        )


@pytest.fixture(params=["fake", "emulator"])
def scenario(request: pytest.FixtureRequest) -> Scenario:
    if request.param == "fake":
        return _fake_scenario()
    result: Scenario = request.getfixturevalue("emulator_scenario")
    return result


# ------------------------------------------------------------------ the contract


def test_no_queries_get_an_empty_answer(scenario: Scenario) -> None:
    assert dict(scenario.source.stage_minutes([])) == {}


def test_each_query_is_answered_under_its_endpoint(scenario: Scenario) -> None:
    """One entry per endpoint; an endpoint that served nothing has no minutes at all."""
    out = scenario.source.stage_minutes([scenario.query(), scenario.query(scenario.quiet)])
    assert set(out) == {scenario.endpoint, scenario.quiet}
    assert list(out[scenario.quiet]) == []
    assert len(out[scenario.endpoint]) >= 1


def test_minutes_are_closed_ordered_and_inside_the_window(scenario: Scenario) -> None:
    q = scenario.query()
    minutes: list[Minute] = list(scenario.source.stage_minutes([q])[q.endpoint])
    starts = [m.start for m in minutes]
    assert all(t is not None for t in starts)
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for m in minutes:
        assert m.start is not None and m.start >= q.start
        assert m.start + scenario.step <= q.end
        assert m.canary_requests + m.baseline_requests > 0  # never an empty minute


def test_counts_split_requests_and_5xx_errors_by_deployment(scenario: Scenario) -> None:
    """Every request in the window is counted once, on the deployment that served it."""
    minutes = scenario.source.stage_minutes([scenario.query()])[scenario.endpoint]
    assert sum(m.canary_requests for m in minutes) == scenario.canary_total
    assert sum(m.canary_errors for m in minutes) == scenario.canary_total
    assert sum(m.baseline_requests for m in minutes) == scenario.baseline_total
    assert sum(m.baseline_errors for m in minutes) == 0


def test_latency_comes_with_every_side_that_served(scenario: Scenario) -> None:
    minutes = scenario.source.stage_minutes([scenario.query()])[scenario.endpoint]
    for m in minutes:
        if m.canary_requests:
            assert None not in (m.canary_p50, m.canary_p90, m.canary_p99)
        if m.baseline_requests:
            assert None not in (m.baseline_p50, m.baseline_p90, m.baseline_p99)
            assert m.baseline_p50 is not None and m.baseline_p99 is not None
            assert 0 <= m.baseline_p50 <= m.baseline_p99


def test_closed_minutes_do_not_change_when_read_again(scenario: Scenario) -> None:
    q = scenario.query()
    first = scenario.source.stage_minutes([q])[q.endpoint]
    again = scenario.source.stage_minutes([q])[q.endpoint]
    assert list(first) == list(again)


def test_a_source_that_cannot_answer_raises_nodata(scenario: Scenario) -> None:
    with pytest.raises(NoData):
        scenario.unavailable().stage_minutes([scenario.query()])


def test_deployment_scope_counts_the_same_requests(scenario: Scenario) -> None:
    """Each deployment's own metrics (the shadow's scope) count what it served."""
    q = replace(scenario.query(), scope="deployment")
    minutes = scenario.source.stage_minutes([q])[scenario.endpoint]
    assert sum(m.canary_requests for m in minutes) == scenario.canary_total
    assert sum(m.canary_errors for m in minutes) == scenario.canary_total
    assert sum(m.baseline_requests for m in minutes) == scenario.baseline_total
    assert sum(m.baseline_errors for m in minutes) == 0


def test_statuses_the_query_does_not_list_are_not_errors(scenario: Scenario) -> None:
    """The canary's 500s are errors under the default list, not under errors: [429] (a list
    covering neither 5xx nor 424: at the deployment's own metrics, where a model's failure
    shows under its own code, a list covering 424, such as 4xx, counts its non-2xx too)."""
    for scope in ("endpoint", "deployment"):
        q = replace(scenario.query(), errors=("429",), scope=scope)
        minutes = scenario.source.stage_minutes([q])[scenario.endpoint]
        assert sum(m.canary_requests for m in minutes) == scenario.canary_total
        assert sum(m.canary_errors for m in minutes) == 0


def test_mirrored_copies_count_on_the_mirror_targets_own_metrics(
    emulator_scenario: Scenario,
) -> None:
    """The shadow is judged on what the mirror target served: every mirrored copy (and its
    failure) appears on the deployment's own metrics, beside the baseline's live requests."""
    assert emulator_scenario.mirrored is not None
    endpoint, start, end, copies = emulator_scenario.mirrored
    assert copies > 0
    q = MetricsQuery(endpoint, "green", "blue", start, end, scope="deployment")
    minutes = emulator_scenario.source.stage_minutes([q])[endpoint]
    assert sum(m.canary_requests for m in minutes) == copies
    assert sum(m.canary_errors for m in minutes) == copies
    assert sum(m.baseline_requests for m in minutes) == 30


def test_metrics_throttling_529_is_retried_and_persistent_throttling_is_no_data(
    emulator_scenario: Scenario,
) -> None:
    """Azure Monitor answers 529 when its metrics backend throttles, to be retried with
    backoff (migrate-to-batch-api, "529 throttling errors"): one 529 costs a retry, not the
    tick; throttling that does not stop is no data (the engine holds)."""
    from emulator.testing import admin_request

    s, q = emulator_scenario, emulator_scenario.query()
    expected = list(s.source.stage_minutes([q])[q.endpoint])
    try:
        admin_request(s.conn, "PUT", "faults/metrics", {"kind": "529", "count": 1})
        assert list(s.source.stage_minutes([q])[q.endpoint]) == expected
        assert admin_request(s.conn, "GET", "faults")["metrics"][0]["remaining"] == 0
        admin_request(s.conn, "PUT", "faults/metrics", {"kind": "529", "rate": 1.0})
        with pytest.raises(NoData):
            s.source.stage_minutes([q])
    finally:
        admin_request(s.conn, "DELETE", "faults/metrics")
    assert list(s.source.stage_minutes([q])[q.endpoint]) == expected


@pytest.mark.parametrize("metric", ["RequestLatency_P90", "RequestsPerMinute"])
def test_a_metric_failed_inside_a_successful_answer_is_no_data(
    emulator_scenario: Scenario, metric: str
) -> None:
    """A 200 answer can carry one metric with errorCode Throttled (the SDK's result drops the
    field): its minutes are unknown, not minutes without requests or latency, so NoData; the
    cause names the metric. Once it answers again, the minutes are as before."""
    from emulator.testing import admin_request

    s = emulator_scenario
    assert s.conn is not None
    q = s.query()
    expected = list(s.source.stage_minutes([q])[q.endpoint])
    try:
        admin_request(
            s.conn,
            "PUT",
            "faults/metric-errors",
            {"metrics": [metric], "code": "Throttled", "message": "Query was throttled"},
        )
        with pytest.raises(NoData) as info:
            s.source.stage_minutes([q])
        assert info.value.details["cause"] == "MetricQueryFailed"
        assert f"{metric}" in info.value.message and "Throttled" in info.value.message
    finally:
        admin_request(s.conn, "DELETE", "faults/metric-errors")
    assert list(s.source.stage_minutes([q])[q.endpoint]) == expected
