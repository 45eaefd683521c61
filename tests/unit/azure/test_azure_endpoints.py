"""MLEndpointControl against a stand-in MLClient: what it sends and how it reads (no network)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure_test_helpers import http_error, settings

from shared import deadline
from shared.azure import retry
from shared.azure.endpoints import TAG_MODEL, TAG_SOURCE, MLEndpointControl
from shared.effects import CreateDeployment
from shared.errors import AzureRuleViolation, InvalidInput, NotFound, TransientUpstreamError
from shared.model import ModelRef

WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
V2 = ModelRef("fraud", "2")
FAST = retry.RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0, budget=1.0)


def source_deployment(**over: Any) -> Any:
    from azure.ai.ml.entities import (
        CodeConfiguration,
        DefaultScaleSettings,
        ManagedOnlineDeployment,
        OnlineRequestSettings,
        ProbeSettings,
    )

    values: dict[str, Any] = dict(
        name="blue",
        endpoint_name="ep",
        model=f"{WS}/models/fraud/versions/1",
        environment=f"{WS}/environments/sk/versions/3",
        code_configuration=CodeConfiguration(
            code=f"{WS}/codes/score/versions/1", scoring_script="score.py"
        ),
        instance_type="Standard_DS3_v2",
        instance_count=3,
        scale_settings=DefaultScaleSettings(),
        request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=4),
        liveness_probe=ProbeSettings(period=11),
        readiness_probe=ProbeSettings(period=12),
        environment_variables={"MODE": "strict"},
        app_insights_enabled=True,
        egress_public_network_access="Disabled",
        tags={"team": "risk", TAG_SOURCE: "older"},
    )
    values.update(over)
    return ManagedOnlineDeployment(**values)


class Poller:
    def __init__(self, done: bool = True, error: Exception | None = None) -> None:
        self._done, self._error = done, error
        self.waited: float | None = None

    def wait(self, timeout: float | None = None) -> None:
        self.waited = timeout
        if self._error is not None:
            raise self._error

    def done(self) -> bool:
        return self._done


@dataclass
class FakeML:
    """The MLClient surface the adapter uses, recording every call."""

    endpoint: Any = None
    deployments: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    poller: Poller = field(default_factory=Poller)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    rest: dict[str, Any] = field(default_factory=dict)  # REST bodies, when not derived
    data_paths: dict[tuple[str, str], str] = field(default_factory=dict)
    # Reads of the endpoint that still show the split before an update (Azure's can trail
    # one: azure-dev PR 3881); None: an update never shows.
    read_lag: int | None = 0
    slept: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.online_endpoints = SimpleNamespace(
            get=self._get_endpoint,
            list=self._list_endpoints,
            begin_create_or_update=self._put_endpoint,
            # The generated REST client behind OnlineEndpointOperations.get (its ``cls`` turns
            # the answer into the entity; the stand-in answers with the entity itself).
            _online_operation=SimpleNamespace(
                get=lambda **kw: self._get_endpoint(kw["endpoint_name"])
            ),
            _resource_group_name="rg",
            _workspace_name="ws",
            _init_kwargs={},
        )
        self.online_deployments = SimpleNamespace(
            get=self._get_deployment,
            list=self._list,
            begin_create_or_update=self._put_deployment,
            begin_delete=self._delete,
            get_logs=self._get_logs,
            # The generated REST client behind OnlineDeploymentOperations.get.
            _online_deployment=SimpleNamespace(get=self._rest_get),
            _resource_group_name="rg",
            _workspace_name="ws",
            _init_kwargs={},
        )
        self.data = SimpleNamespace(get=self._get_data)
        self._applied: Any = None  # the endpoint as an update left it, before reads show it

    def _fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def _get_endpoint(self, name: str) -> Any:
        self.calls.append(("get_endpoint", name))
        self._fail()
        if self.endpoint is None:
            raise http_error(404, "ResourceNotFound", cls=ResourceNotFoundError)
        if self._applied is not None:
            if self.read_lag is not None and self.read_lag <= 0:
                self.endpoint, self._applied = self._applied, None
            elif self.read_lag is not None:
                self.read_lag -= 1
        return copy.copy(self.endpoint)

    def _list_endpoints(self) -> list[Any]:
        self.calls.append(("list_endpoints", None))
        self._fail()
        return [] if self.endpoint is None else [self.endpoint]

    def _put_endpoint(self, ep: Any) -> Poller:
        self.calls.append(("put_endpoint", (dict(ep.traffic), dict(ep.mirror_traffic))))
        if self.poller.done() and self.poller._error is None:
            self._applied = copy.copy(ep)
        return self.poller

    def _get_deployment(self, name: str, endpoint: str) -> Any:
        self.calls.append(("get_deployment", name))
        if name not in self.deployments:
            raise http_error(404, "ResourceNotFound", cls=ResourceNotFoundError)
        return self.deployments[name]

    def _rest_get(self, **kw: Any) -> Any:
        name = kw["deployment_name"]
        self.calls.append(("rest_get", name))
        if name in self.rest:
            return self.rest[name]
        if name not in self.deployments:
            raise http_error(404, "ResourceNotFound", cls=ResourceNotFoundError)
        # As Azure would answer: the entity's own REST form (of a copy: it mutates).
        return copy.deepcopy(self.deployments[name])._to_rest_object(location="westeurope")

    def _get_data(self, name: str, version: str) -> Any:
        self.calls.append(("get_data", (name, version)))
        return SimpleNamespace(name=name, version=version, path=self.data_paths[(name, version)])

    def _list(self, endpoint: str) -> list[Any]:
        self.calls.append(("list", endpoint))
        return list(self.deployments.values())

    def _put_deployment(self, deployment: Any, **kw: Any) -> Poller:
        self.calls.append(("put_deployment", (deployment, kw)))
        return Poller(done=False)

    def _delete(self, name: str, endpoint: str) -> Poller:
        self.calls.append(("delete", name))
        return Poller(done=False)

    def _get_logs(self, name: str, endpoint: str, lines: int, container_type: str) -> str:
        self.calls.append(("logs", container_type))
        return self.logs.get(container_type, "")

    def kinds(self) -> list[str]:
        return [c[0] for c in self.calls]


def control(ml: FakeML, **kw: Any) -> MLEndpointControl:
    kw.setdefault("sleep", ml.slept.append)
    return MLEndpointControl(
        settings(), object(), client_factory=lambda: ml, retry_policy=FAST, **kw
    )


def endpoint(traffic: dict[str, int], mirror: dict[str, int] | None = None) -> Any:
    return SimpleNamespace(
        name="ep",
        traffic=dict(traffic),
        mirror_traffic=dict(mirror or {}),
        provisioning_state="Succeeded",
    )


def test_get_endpoint_reads_states_models_and_zero_fills_traffic() -> None:
    """Enum provisioning states become Azure's words, ARM model ids azureml:name:version."""
    from azure.ai.ml._restclient.arm_ml_service.models import DeploymentProvisioningState

    ml = FakeML(
        endpoint=endpoint({"blue": 100, "green": 0}, {"shadow": 20}),
        deployments={
            "blue": source_deployment(provisioning_state=DeploymentProvisioningState.SUCCEEDED),
            "shadow": source_deployment(
                name="shadow",
                model=f"{WS}/models/fraud/versions/2",
                instance_count=1,
                provisioning_state=DeploymentProvisioningState.CREATING,
            ),
        },
    )
    info = control(ml).get_endpoint("ep")
    assert info.traffic == {"blue": 100, "shadow": 0}
    assert info.mirror == {"shadow": 20}
    assert info.deployments["blue"].provisioning_state == "Succeeded"
    assert info.deployments["shadow"].provisioning_state == "Creating"
    assert info.deployments["shadow"].model == "azureml:fraud:2"
    assert info.deployments["blue"].instance_count == 3


def test_unknown_endpoint_is_not_found() -> None:
    with pytest.raises(NotFound):
        control(FakeML()).get_endpoint("nope")


def test_create_clones_the_source_with_the_new_model_and_tags() -> None:
    """Everything that defines how the source serves is copied; nothing is uploaded."""
    src = source_deployment()
    ml = FakeML(endpoint=endpoint({"blue": 100}), deployments={"blue": src})
    effect = CreateDeployment("fraud-v2", "blue", ModelRef("fraud", "2"), instance_count=2)
    control(ml).create_deployment("ep", effect)
    [(dep, kw)] = [c[1] for c in ml.calls if c[0] == "put_deployment"]
    assert kw == {"skip_script_validation": True}
    assert (dep.name, dep.endpoint_name, dep.model) == ("fraud-v2", "ep", "azureml:fraud:2")
    assert dep.instance_count == 2
    for attr in (
        "environment",
        "code_configuration",
        "instance_type",
        "scale_settings",
        "request_settings",
        "description",
        "properties",
        "liveness_probe",
        "readiness_probe",
        "environment_variables",
        "app_insights_enabled",
        "egress_public_network_access",
    ):
        assert getattr(dep, attr) == getattr(src, attr), attr
    assert dep.tags == {"team": "risk", TAG_SOURCE: "blue", TAG_MODEL: "azureml:fraud:2"}


def test_create_keeps_the_source_instance_count_without_override() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100}), deployments={"blue": source_deployment()})
    control(ml).create_deployment("ep", CreateDeployment("fraud-v2", "blue", V2))
    [(dep, _)] = [c[1] for c in ml.calls if c[0] == "put_deployment"]
    assert dep.instance_count == 3


def test_create_is_idempotent_for_the_same_model() -> None:
    """An existing deployment of that name with that model is left alone: no PUT."""
    ml = FakeML(
        endpoint=endpoint({"blue": 100}),
        deployments={
            "blue": source_deployment(),
            "fraud-v2": source_deployment(name="fraud-v2", model=f"{WS}/models/fraud/versions/2"),
        },
    )
    control(ml).create_deployment("ep", CreateDeployment("fraud-v2", "blue", V2))
    assert "put_deployment" not in ml.kinds()


def test_create_refuses_a_bad_name_before_calling_azure() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100}), deployments={"blue": source_deployment()})
    with pytest.raises(AzureRuleViolation):
        control(ml).create_deployment("ep", CreateDeployment("9bad_", "blue", ModelRef("m", "1")))
    assert ml.calls == []


def test_create_from_a_missing_source_is_not_found() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100}))
    with pytest.raises(NotFound):
        control(ml).create_deployment("ep", CreateDeployment("green", "blue", ModelRef("m", "1")))


def test_set_traffic_refuses_bad_splits_before_calling_azure() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100, "green": 0}))
    for traffic, mirror in (
        ({"blue": 90}, {}),
        ({"blue": 100}, {"green": 60}),
        ({"blue": 50, "green": 50}, {"green": 10}),
    ):
        with pytest.raises(AzureRuleViolation):
            control(ml).set_traffic("ep", traffic, mirror)
    assert ml.calls == []


def test_set_traffic_refuses_unknown_deployments_after_reading_the_endpoint() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100}))
    with pytest.raises(AzureRuleViolation):
        control(ml).set_traffic("ep", {"blue": 90, "ghost": 10}, {})
    assert ml.kinds() == ["get_endpoint"]


def test_set_traffic_sends_one_update_and_waits_a_bounded_time() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100, "green": 0}))
    landed = control(ml, traffic_wait_s=7).set_traffic("ep", {"blue": 90, "green": 10}, {})
    assert ml.calls[1:] == [
        ("put_endpoint", ({"blue": 90, "green": 10}, {})),
        ("get_endpoint", "ep"),  # read back once: it shows the new split
    ]
    assert ml.poller.waited == 7
    assert landed is True  # the poller finished: the split is live
    assert ml.slept == []


def test_set_traffic_reads_the_endpoint_until_it_shows_the_new_split() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100, "green": 0}), read_lag=2)
    assert control(ml).set_traffic("ep", {"blue": 90, "green": 10}, {"blue": 0}) is True
    assert ml.kinds() == ["get_endpoint", "put_endpoint"] + ["get_endpoint"] * 3
    assert ml.slept == [0.5, 1.0]  # then twice as long each time
    assert ml.endpoint.traffic == {"blue": 90, "green": 10}


def test_set_traffic_read_back_is_bounded_and_the_update_still_counts_as_landed() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100, "green": 0}), read_lag=None)
    assert control(ml, traffic_wait_s=7).set_traffic("ep", {"blue": 90, "green": 10}, {}) is True
    assert ml.slept == [0.5, 1.0, 2.0, 3.5]  # 7 s in all, the last wait cut to fit
    assert ml.kinds().count("get_endpoint") == 1 + 5


def test_set_traffic_read_back_failing_does_not_undo_a_done_update() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100, "green": 0}), read_lag=None)
    ctl = control(ml)
    original = ml.online_endpoints._online_operation.get
    reads = iter([None])

    def failing_read_back(**kw: Any) -> Any:
        if next(reads, "after") is None:  # the first read, before the update
            return original(**kw)
        raise http_error(500, "InternalServerError")

    ml.online_endpoints._online_operation.get = failing_read_back
    assert ctl.set_traffic("ep", {"blue": 90, "green": 10}, {}) is True
    assert ml.kinds().count("put_endpoint") == 1


def test_set_traffic_to_the_live_split_sends_no_update() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 90, "green": 10, "old": 0}))
    assert control(ml).set_traffic("ep", {"blue": 90, "green": 10, "old": 0}, {}) is True
    assert ml.kinds() == ["get_endpoint"]


def test_set_traffic_returns_when_the_update_is_still_running() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100, "green": 0}), poller=Poller(done=False))
    assert control(ml).set_traffic("ep", {"blue": 100}, {"green": 20}) is False
    assert ml.calls[-1] == ("put_endpoint", ({"blue": 100}, {"green": 20}))


def test_set_traffic_without_waiting_does_not_say_the_split_is_live() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100, "green": 0}))
    assert control(ml, traffic_wait_s=0).set_traffic("ep", {"blue": 90, "green": 10}, {}) is False


def test_a_refused_traffic_operation_is_a_rule_violation() -> None:
    failed = http_error(200, "InvalidTrafficDeployment", "traffic names deployment(s) x")
    ml = FakeML(endpoint=endpoint({"blue": 100, "green": 0}), poller=Poller(error=failed))
    with pytest.raises(AzureRuleViolation) as info:
        control(ml).set_traffic("ep", {"blue": 50, "green": 50}, {})
    assert info.value.code == "InvalidTrafficDeployment"


def test_delete_refuses_a_deployment_with_traffic() -> None:
    ml = FakeML(
        endpoint=endpoint({"blue": 100}, {"green": 10}),
        deployments={"blue": source_deployment(), "green": source_deployment(name="green")},
    )
    for name in ("blue", "green"):
        with pytest.raises(AzureRuleViolation):
            control(ml).delete_deployment("ep", name)
    assert "delete" not in ml.kinds()


def test_delete_of_absent_or_deleting_deployment_is_a_no_op() -> None:
    ml = FakeML(
        endpoint=endpoint({"blue": 100}),
        deployments={
            "blue": source_deployment(),
            "old": source_deployment(name="old", provisioning_state="Deleting"),
        },
    )
    control(ml).delete_deployment("ep", "gone")
    control(ml).delete_deployment("ep", "old")
    assert "delete" not in ml.kinds()


def test_delete_starts_without_waiting() -> None:
    ml = FakeML(
        endpoint=endpoint({"blue": 100, "old": 0}),
        deployments={"blue": source_deployment(), "old": source_deployment(name="old")},
    )
    control(ml).delete_deployment("ep", "old")
    assert ml.calls[-1] == ("delete", "old")


def test_logs_fall_back_to_the_storage_initializer_and_keep_the_tail() -> None:
    ml = FakeML(logs={"storage-initializer": "a\nb\nc\nmodel not found\n"})
    assert control(ml).get_logs("ep", "green", lines=2) == "c\nmodel not found"
    assert [c[1] for c in ml.calls] == ["inference-server", "storage-initializer"]
    with pytest.raises(InvalidInput):
        control(ml).get_logs("ep", "green", lines=0)


def test_transient_failures_are_retried_then_reported() -> None:
    ml = FakeML(endpoint=endpoint({"blue": 100}), failures=[http_error(429, "TooManyRequests")])
    assert control(ml).get_endpoint("ep").traffic == {"blue": 100}
    ml.failures = [http_error(500, "InternalServerError")] * 3
    with pytest.raises(TransientUpstreamError):
        control(ml).get_endpoint("ep")


def test_the_client_is_built_once_per_instance() -> None:
    built: list[FakeML] = []

    def factory() -> FakeML:
        built.append(FakeML(endpoint=endpoint({"blue": 100})))
        return built[-1]

    ctl = MLEndpointControl(settings(), object(), client_factory=factory)
    ctl.get_endpoint("ep")
    ctl.get_endpoint("ep")
    assert len(built) == 1


def test_under_an_alerts_budget_the_traffic_update_waits_only_what_is_left() -> None:
    """An alert's webhook call is answered in about 10 s: the update's operation is waited for
    at most the budget (shared/deadline.py), not the configured 20 s."""
    ml = FakeML(endpoint=endpoint({"blue": 100, "green": 0}))
    with deadline.within(2.5):
        control(ml, traffic_wait_s=20).set_traffic("ep", {"blue": 90, "green": 10}, {})
    assert 0 < ml.poller.waited <= 2.5


class _SdkLikeML(FakeML):
    """As azure-ai-ml: get() zero-fills each listed deployment under its own spelling, and
    begin_create_or_update lower-cases the split keys it sends (_strip_zeroes_from_traffic in
    operations/_online_endpoint_operations.py), which Azure keeps as sent."""

    def _get_endpoint(self, name: str) -> Any:
        ep = super()._get_endpoint(name)
        ep.traffic = dict(ep.traffic)
        for d in self.deployments:
            if not ep.traffic.get(d) and not ep.mirror_traffic.get(d):
                ep.traffic[d] = 0
        return ep

    def _put_endpoint(self, ep: Any) -> Any:
        import copy

        ep = copy.copy(ep)
        ep.traffic = {k.lower(): v for k, v in ep.traffic.items() if v}
        ep.mirror_traffic = {k.lower(): v for k, v in ep.mirror_traffic.items() if v}
        return super()._put_endpoint(ep)


def test_a_split_naming_a_mixed_case_deployment_lands_at_once_and_is_not_sent_again() -> None:
    """The owners' deployment 'Blue' reads back as 'blue' in the split: the update is seen
    live at once (no read-back wait), asking it again sends nothing, and a delete of 'Blue'
    while the split still routes to 'blue' is refused."""
    ml = _SdkLikeML(endpoint=endpoint({"blue": 100}))
    ml.deployments = {
        "Blue": SimpleNamespace(
            name="Blue", model="azureml:fraud:1", instance_count=2, provisioning_state="Succeeded"
        ),
        "fraud-v2": SimpleNamespace(
            name="fraud-v2",
            model="azureml:fraud:2",
            instance_count=1,
            provisioning_state="Succeeded",
        ),
    }
    ctl = control(ml, traffic_wait_s=20)
    asked = {"Blue": 90, "fraud-v2": 10}
    assert ctl.set_traffic("ep", asked, {}) is True
    assert ml.slept == []
    ml.calls.clear()
    assert ctl.set_traffic("ep", asked, {}) is True
    assert ml.kinds() == ["get_endpoint"]
    with pytest.raises(AzureRuleViolation):
        ctl.delete_deployment("ep", "Blue")
