"""bench-alert's alert: what the app decodes from it names the canary, so it is acted on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from bench.alert import ENDPOINT, alert_payload
from shared import inputs


def _stack() -> Any:
    conn = SimpleNamespace(subscription="sub-1", resource_group="RG-1", workspace="ws-1")
    return SimpleNamespace(emulator=conn)


def test_the_bench_alert_names_the_canary_and_targets_the_endpoint() -> None:
    decoded = inputs.alert(alert_payload(cast(Any, _stack()), "bench-http", "bench-v2"))
    assert decoded.condition == "Fired"
    assert decoded.deployments == ("bench-v2",)  # an alert about another deployment is ignored
    assert [inputs.endpoint_of(t, None) for t in decoded.targets] == [ENDPOINT]
    assert decoded.rejected_targets == ()
