"""What one endpoint read costs in ARM reads, the adapter's calls going through the ARM pacer,
and a traffic update waiting out a busy endpoint (MLEndpointControl against the stand-in
MLClient of test_azure_endpoints)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from azure_test_helpers import http_error, settings
from test_azure_endpoints import FakeML, control, endpoint, source_deployment

from shared import deadline
from shared.azure import retry
from shared.azure.endpoints import MLEndpointControl
from shared.errors import AzureBusy, NotFound, Superseded


def _ml() -> FakeML:
    return FakeML(endpoint=endpoint({"blue": 100}), deployments={"blue": source_deployment()})


def test_a_read_is_the_endpoint_get_and_its_deployment_list_by_default() -> None:
    """Fresh every time: no listing of the workspace unless one is asked for."""
    ml = _ml()
    c = control(ml)
    for _ in range(2):
        assert c.get_endpoint("ep").live_traffic() == {"blue": 100}
    assert ml.kinds() == ["get_endpoint", "list", "get_endpoint", "list"]


def test_reads_within_the_listing_ttl_cost_one_deployment_list_each() -> None:
    """The workspace is listed once; each read then sends only the deployment list."""
    ml = _ml()
    c = control(ml, listing_ttl_s=60.0)
    for _ in range(3):
        assert c.get_endpoint("ep").live_traffic() == {"blue": 100}
    assert ml.kinds() == ["list_endpoints", "list", "list", "list"]


def test_a_read_after_this_process_changed_the_traffic_lists_the_workspace_again() -> None:
    """The split we just set is never read back from a listing taken before it."""
    ml = _ml()
    ml.deployments["green"] = source_deployment(name="green")
    ml.endpoint.traffic["green"] = 0  # the SDK's get zero-fills deployments without traffic
    c = control(ml, listing_ttl_s=60.0, traffic_wait_s=0)
    c.get_endpoint("ep")
    c.set_traffic("ep", {"blue": 90, "green": 10}, {})
    ml.endpoint.traffic = {"blue": 90, "green": 10}  # what Azure now holds
    ml.calls.clear()
    assert c.get_endpoint("ep").live_traffic() == {"blue": 90, "green": 10}
    assert ml.kinds() == ["list_endpoints", "list"]


def test_an_endpoint_missing_from_a_new_listing_is_not_found() -> None:
    ml = _ml()
    c = control(ml, listing_ttl_s=60.0)
    with pytest.raises(NotFound):
        c.get_endpoint("other")
    assert ml.kinds() == ["list_endpoints"]


class CountingPacer(retry.Pacer):
    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, sleep: Any = None) -> float:
        self.waits += 1
        return 0.0


def test_every_arm_call_waits_for_the_pacer() -> None:
    ml = _ml()
    pacer = CountingPacer()
    c = control(ml, listing_ttl_s=60.0, pacer=pacer)
    c.get_endpoint("ep")
    assert pacer.waits == len(ml.calls) == 2


def test_mlclient_is_built_with_the_throttle_header_policy(monkeypatch: Any) -> None:
    """One policy object, not a list: azure-mgmt-core's ARMPipelineClient appends to a list it
    is given, and MLClient shares its keywords between all its service clients."""
    import azure.ai.ml

    seen: dict[str, Any] = {}

    def fake_client(credential: Any, **kw: Any) -> object:
        seen.update(kw)
        return object()

    monkeypatch.setattr(azure.ai.ml, "MLClient", fake_client)
    pacer = retry.Pacer()
    MLEndpointControl(settings(), object(), pacer=pacer)._build_client()
    policy = seen["per_call_policies"]
    assert not isinstance(policy, list)
    response = type("R", (), {"http_response": type("H", (), {"headers": {}})()})()
    response.http_response.headers = {retry.ARM_READS_HEADER: "3"}
    policy.on_response(None, response)
    assert pacer.delay() == 0.0 and pacer.delay() > 0.0  # pacing at the refill rate now


class BusyML(FakeML):
    """Azure answering the endpoint update 409 (another operation runs) ``busy`` times."""

    busy: int = 0
    retry_after: str | None = "2"

    def _get_endpoint(self, name: str) -> Any:
        return copy.deepcopy(super()._get_endpoint(name))  # a fresh object, as Azure's answer

    def _put_endpoint(self, ep: Any) -> Any:
        if self.busy > 0:
            self.busy -= 1
            self.calls.append(("put_refused", None))
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            raise http_error(409, "Conflict", "an operation is in progress", headers=headers)
        return super()._put_endpoint(ep)


def _busy(busy: int, retry_after: str | None = "2") -> BusyML:
    ml = BusyML(
        endpoint=endpoint({"blue": 100, "green": 0}),
        deployments={"blue": source_deployment(), "green": source_deployment(name="green")},
    )
    ml.busy, ml.retry_after = busy, retry_after
    return ml


def test_a_traffic_update_refused_as_busy_is_read_and_tried_again_after_retry_after() -> None:
    """An alert's rollback restores traffic within the call when Azure frees up."""
    ml, slept = _busy(2), []
    c = control(ml, traffic_wait_s=0, busy_wait_s=30, sleep=slept.append)
    c.set_traffic("ep", {"blue": 90, "green": 10}, {})
    assert slept == [2.0, 2.0]
    assert ml.kinds() == [
        "get_endpoint",
        "put_refused",
        "get_endpoint",
        "put_refused",
        "get_endpoint",
        "put_endpoint",
    ]


def test_a_traffic_update_still_busy_when_the_budget_is_spent_is_azure_busy() -> None:
    ml, slept = _busy(5), []
    c = control(ml, traffic_wait_s=0, busy_wait_s=5, sleep=slept.append)
    with pytest.raises(AzureBusy) as info:
        c.set_traffic("ep", {"blue": 90, "green": 10}, {})
    assert slept == [2.0, 2.0]  # a third wait would overrun the 5 s
    assert info.value.details["retry_after"] == 2.0


def test_without_retry_after_a_busy_update_waits_a_jittered_backoff_within_the_budget() -> None:
    ml, slept = _busy(1, retry_after=None), []
    c = control(ml, traffic_wait_s=0, busy_wait_s=30, sleep=slept.append)
    c.set_traffic("ep", {"blue": 90, "green": 10}, {})
    assert len(slept) == 1 and 0.0 <= slept[0] <= retry.BUSY_BASE_DELAY


def test_busy_wait_zero_gives_up_at_the_first_409() -> None:
    ml, slept = _busy(1), []
    c = control(ml, traffic_wait_s=0, busy_wait_s=0, sleep=slept.append)
    with pytest.raises(AzureBusy):
        c.set_traffic("ep", {"blue": 90, "green": 10}, {})
    assert slept == []


def test_a_traffic_update_no_longer_wanted_after_a_busy_wait_is_not_sent() -> None:
    """The stage change waits out Azure's 409 (an alert's rollback running); by then the rollout
    no longer asks for it: nothing is sent, and the caller hears Superseded."""
    ml, slept = _busy(1), []
    asked: list[bool] = []

    def still_wanted() -> bool:
        asked.append(True)
        return len(asked) == 1  # wanted before the wait, replaced during it

    c = control(ml, traffic_wait_s=0, busy_wait_s=30, sleep=slept.append)
    with pytest.raises(Superseded):
        c.set_traffic("ep", {"blue": 90, "green": 10}, {}, still_wanted)
    assert ml.kinds() == ["get_endpoint", "put_refused", "get_endpoint"]
    assert len(asked) == 2


def test_a_split_already_live_is_not_asked_about() -> None:
    ml = _busy(0)
    c = control(ml, traffic_wait_s=0, busy_wait_s=30, sleep=lambda _: None)

    def never() -> bool:
        raise AssertionError("asked though nothing would be sent")

    c.set_traffic("ep", {"blue": 100}, {}, never)
    assert ml.kinds() == ["get_endpoint"]


def test_under_an_alerts_budget_a_busy_endpoint_is_waited_for_only_what_is_left() -> None:
    ml, slept = _busy(5), []
    c = control(ml, traffic_wait_s=0, busy_wait_s=30, sleep=slept.append)
    with pytest.raises(AzureBusy), deadline.within(3.0):
        c.set_traffic("ep", {"blue": 90, "green": 10}, {})
    assert sum(slept) <= 3.0  # Retry-After 2 s: one wait fits, the next would not
