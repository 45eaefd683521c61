"""Metric ingestion delay and revision: a minute is queryable only minutes after it ends, first
partly filled, then complete (pure: query_batch at chosen times, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.__main__ import _addon_arguments, _addon_extras
from emulator.context import Context, Identity
from emulator.metric_series import Ingestion
from emulator.monitor import ENDPOINT_NS, configure_ingestion, query_batch
from emulator.records import RequestLog, RequestRecord

BUCKET = 60.0
M0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a minute boundary
EP_ID = Identity().endpoint_id("ep")


class _Endpoints:
    def endpoint_names(self) -> list[str]:
        return ["ep"]

    def deployment_names(self, endpoint: str) -> list[str]:
        return ["blue"]


def context(ingestion: Ingestion | None = None, n: int = 40) -> Context:
    """A context whose minute [M0, M0 + 60) holds ``n`` requests to blue."""
    ctx = Context(
        identity=Identity(),
        records=RequestLog(),
        endpoints=_Endpoints(),
        state_dir=Path("."),
        bucket_seconds=BUCKET,
        extras={} if ingestion is None else {"metrics_ingestion": ingestion},
    )
    configure_ingestion(ctx)
    for i in range(n):
        ctx.records.append(
            RequestRecord(
                time=M0 + 1 + i,
                endpoint="ep",
                deployment="blue",
                status_code=200,
                model_status_code=200,
                total_ms=10.0,
                request_ms=8.0,
                response_ms=1.0,
                request_bytes=10,
                response_bytes=10,
                mirrored=False,
                request_id=f"req-{i}",
            )
        )
    return ctx


def total_at(ctx: Context, now: float) -> float | None:
    """RequestsPerMinute (Average: its one sample, the count) of the minute [M0, M0 + 60), as
    a query made at ``now`` sees it."""
    params = {
        "metricnamespace": ENDPOINT_NS,
        "metricnames": "RequestsPerMinute",
        "aggregation": "average",
        "interval": "PT1M",
        "starttime": "2027-01-15T08:00:00Z",
        "endtime": "2027-01-15T08:01:00Z",
    }
    answer: Any = query_batch(ctx, Identity().subscription, params, {"resourceids": [EP_ID]}, now)
    [point] = answer["values"][0]["value"][0]["timeseries"][0]["data"]
    return point.get("average")


def test_minute_is_missing_until_the_ingestion_delay_has_passed() -> None:
    """With Azure's default 2-minute delay, the minute has no value 1 min 59 s after it ends."""
    ctx = context()
    assert total_at(ctx, M0 + 60 + 119) is None


def test_minute_first_appears_partly_filled_then_is_revised_to_its_full_count() -> None:
    """At first appearance about half the requests are counted; a minute later all 40 are."""
    ctx = context()
    first = total_at(ctx, M0 + 60 + 120)
    assert first is not None and 0 < first < 40
    assert total_at(ctx, M0 + 60 + 180) == 40


def test_partial_fraction_one_shows_the_whole_minute_at_first_appearance() -> None:
    """partial_fraction 1: no revision, the minute appears complete after the delay."""
    ctx = context(Ingestion(delay_minutes=2, partial_fraction=1.0, revision_minutes=1))
    assert total_at(ctx, M0 + 60 + 119) is None
    assert total_at(ctx, M0 + 60 + 120) == 40


def test_ingestion_off_shows_a_minute_as_soon_as_it_ends() -> None:
    """delay 0 and fraction 1 turn the behaviour off (the kinder, un-Azure-like world)."""
    ctx = context(Ingestion(delay_minutes=0, partial_fraction=1.0, revision_minutes=0))
    assert total_at(ctx, M0 + 60) == 40


def test_delay_is_counted_in_api_minutes_of_the_compressed_clock() -> None:
    """With 2-second buckets the 2-minute delay lasts 4 real seconds."""
    ctx = context()
    ctx.bucket_seconds = 2.0
    params = {
        "metricnamespace": ENDPOINT_NS,
        "metricnames": "RequestsPerMinute",
        "aggregation": "average",
        "interval": "PT1M",
        "starttime": "2027-01-15T08:00:00Z",
        "endtime": "2027-01-15T08:00:02Z",
    }
    body = {"resourceids": [EP_ID]}
    ctx.records = RequestLog()
    ctx.records.append(
        RequestRecord(M0 + 1, "ep", "blue", 200, 200, 10.0, 8.0, 1.0, 10, 10, False, "r")
    )
    early = query_batch(ctx, Identity().subscription, params, body, M0 + 2 + 3.9)
    late = query_batch(ctx, Identity().subscription, params, body, M0 + 2 + 6.0)
    assert "total" not in early["values"][0]["value"][0]["timeseries"][0]["data"][0]
    assert late["values"][0]["value"][0]["timeseries"][0]["data"][0]["average"] == 1


@pytest.mark.parametrize(
    "raw",
    [
        {"delay_minutes": -1},
        {"partial_fraction": 1.5},
        {"revision_minutes": "soon"},
        {"delay": 2},
        {"delay_minutes": True},
    ],
)
def test_invalid_ingestion_settings_are_refused(raw: dict[str, Any]) -> None:
    """Out-of-range, mistyped or unknown settings raise ValueError naming the problem."""
    with pytest.raises(ValueError):
        Ingestion.from_json(raw)


def test_command_line_builds_the_ingestion_settings() -> None:
    """--metrics-* options reach ctx.extras; --no-metrics-ingestion-delay turns it off."""
    import argparse

    parser = argparse.ArgumentParser()
    _addon_arguments(parser)
    default = _addon_extras(parser.parse_args([]))
    assert default["metrics_ingestion"] == Ingestion()
    custom = _addon_extras(parser.parse_args(["--metrics-delay-minutes", "3"]))
    assert custom["metrics_ingestion"] == Ingestion(delay_minutes=3)
    off = _addon_extras(parser.parse_args(["--no-metrics-ingestion-delay"]))
    assert isinstance(off["metrics_ingestion"], Ingestion) and off["metrics_ingestion"].off
    assert default["eventgrid_data_casing"] == "camel"
