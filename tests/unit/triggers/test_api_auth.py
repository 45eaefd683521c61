"""The HTTP API checks its own key: a missing or wrong one is a JSON 401 with a hint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import azure.functions as func
import pytest

from handlers import alerts, api, api_actions
from shared import bootstrap
from shared.errors import ConfigurationError
from shared.settings import Settings, api_keys
from tests.engine_support import API_KEY, World, make_world

OTHER_KEY = "second-key-for-rotation-0123456789abcdef"


@pytest.fixture
def world() -> Iterator[World]:
    w = make_world()
    bootstrap.use_engine(w.engine)
    yield w
    bootstrap.use_engine(None)


def get(headers: dict[str, str] | None = None, **params: str) -> func.HttpResponse:
    return api.list_rollouts(
        func.HttpRequest("GET", "/api/rollouts", headers=headers or {}, params=params, body=b"")
    )


def act(action: str, headers: dict[str, str], payload: dict[str, str]) -> func.HttpResponse:
    return api_actions.rollout_action(
        func.HttpRequest(
            "POST",
            f"/api/rollouts/fraud/{action}",
            headers={"content-type": "application/json", **headers},
            route_params={"endpoint": "fraud", "action": action},
            body=json.dumps(payload).encode(),
        )
    )


def pause(headers: dict[str, str], payload: dict[str, str]) -> func.HttpResponse:
    return act("pause", headers, payload)


def _error(resp: func.HttpResponse) -> dict[str, str]:
    return dict(json.loads(resp.get_body())["error"])


def test_a_missing_key_is_a_json_401_with_a_hint(world: World) -> None:
    resp = get()
    err = _error(resp)
    assert resp.status_code == 401 and resp.mimetype == "application/json"
    assert err["code"] == "unauthorized" and "x-functions-key" in err["hint"]
    assert "x-functions-key" in resp.headers["WWW-Authenticate"]


def test_a_wrong_key_is_a_json_401_that_does_not_echo_it(world: World) -> None:
    resp = get({"x-functions-key": "not-the-key-" * 4})
    err = _error(resp)
    assert resp.status_code == 401 and err["code"] == "invalid_key" and err["hint"]
    assert "not-the-key" not in resp.get_body().decode()


def test_the_key_is_accepted_in_the_header_any_case_or_as_code(world: World) -> None:
    assert get({"X-Functions-Key": API_KEY}).status_code == 200
    assert get(code=API_KEY).status_code == 200


def test_every_configured_key_is_accepted_so_keys_can_rotate(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOCANARY_API_KEYS", f"{API_KEY}, {OTHER_KEY}\n")
    assert get({"x-functions-key": OTHER_KEY}).status_code == 200
    assert get({"x-functions-key": API_KEY}).status_code == 200


def test_without_configured_keys_every_call_is_refused_and_the_hint_names_the_setting(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOCANARY_API_KEYS")
    resp = get({"x-functions-key": API_KEY})
    err = _error(resp)
    assert resp.status_code == 401 and err["code"] == "api_keys_not_configured"
    assert "AUTOCANARY_API_KEYS" in err["hint"]


def test_a_short_configured_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="AUTOCANARY_API_KEYS"):
        api_keys({"AUTOCANARY_API_KEYS": "short"})
    assert api_keys({"AUTOCANARY_API_KEYS": f" {API_KEY} ,, {OTHER_KEY} "}) == (API_KEY, OTHER_KEY)
    assert api_keys({}) == ()


def test_an_unresolved_key_vault_reference_is_never_a_key(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """App Service leaves a reference it cannot resolve as its text, which is no secret."""
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-ops.vault.azure.net/secrets/api-keys/)"
    monkeypatch.setenv("AUTOCANARY_API_KEYS", reference)
    resp = get({"x-functions-key": reference})
    assert resp.status_code == 500 and _error(resp)["code"] == "configuration_error"
    assert "unresolved Key Vault reference" in _error(resp)["message"]


def test_settings_check_names_a_bad_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_RESOURCE_GROUP": "rg",
        "AZUREML_WORKSPACE_NAME": "ws",
        "AUTOCANARY_POLICY": "rules: [{name: a, match: {model: '*'}, endpoint: e}]",
        "AUTOCANARY_METRICS_ENDPOINT": "https://westeurope.metrics.monitor.azure.com",
        "AUTOCANARY_TABLE_ENDPOINT": "https://acct.table.core.windows.net",
        "AUTOCANARY_API_KEYS": "short",
    }
    with pytest.raises(ConfigurationError, match="AUTOCANARY_API_KEYS"):
        Settings.from_env(env)


def test_the_alerts_webhook_keeps_the_hosts_key_and_no_app_key_check(world: World) -> None:
    """on_alert is FUNCTION at host level (test_handlers pins it); the app does not ask it for
    an AUTOCANARY_API_KEYS key, so the action group's ?code= function key keeps working."""
    resp = alerts.on_alert(
        func.HttpRequest("POST", "/api/alerts", headers={}, body=b'{"schemaId": "x"}')
    )
    assert resp.status_code == 400 and _error(resp)["code"] == "invalid_input"


def test_the_actor_is_the_signed_in_user_who_may_say_for_whom_else_the_body_else_operator(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.engine.on_model_registered(world.model())
    key = {"x-functions-key": API_KEY}
    user = {**key, "X-MS-CLIENT-PRINCIPAL-NAME": "ana@contoso.com"}
    # App Service Authentication off: the header could come from anyone, so it is not trusted
    reply = json.loads(pause(user, {"reason": "a"}).get_body())
    assert reply["decision"]["actor"] == "operator"
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    resumed = act("resume", user, {"reason": "b"})
    assert json.loads(resumed.get_body())["decision"]["actor"] == "ana@contoso.com"
    # a signed-in caller cannot record a decision as somebody else: who they act for is kept
    named = json.loads(pause(user, {"reason": "c", "actor": "bob"}).get_body())
    assert named["decision"]["actor"] == "ana@contoso.com (for bob)"
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED")
    said = act("resume", key, {"reason": "d", "actor": "bob"})
    assert json.loads(said.get_body())["decision"]["actor"] == "bob"  # keys alone: as said


@pytest.mark.parametrize("actor", ["alert:p99", "engine", "Engine:tick"])
def test_an_operator_may_not_pose_as_an_alert_or_the_engine(world: World, actor: str) -> None:
    world.engine.on_model_registered(world.model())
    resp = pause({"x-functions-key": API_KEY}, {"reason": "x", "actor": actor})
    assert resp.status_code == 400 and "reserved" in _error(resp)["message"]


def test_a_person_whose_name_starts_with_engine_may_act(world: World) -> None:
    world.engine.on_model_registered(world.model())
    resp = pause({"x-functions-key": API_KEY}, {"reason": "x", "actor": "engineer@contoso.com"})
    assert resp.status_code == 200


READ_KEY = "read-only-key-for-the-dashboard-0123456789"


def test_a_read_only_key_reads_and_never_acts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUTOCANARY_API_READ_KEYS open the reads only: an action or a start with one is a 403
    and changes nothing, so a leaked viewer's key cannot roll anything back."""
    monkeypatch.setenv("AUTOCANARY_API_READ_KEYS", READ_KEY)
    world.engine.on_model_registered(world.model())
    before = world.store.read("fraud")
    assert get({"x-functions-key": READ_KEY}).status_code == 200
    acted = pause({"x-functions-key": READ_KEY}, {"reason": "x"})
    assert acted.status_code == 403 and _error(acted)["code"] == "read_only_key"
    started = api_actions.start_rollout(
        func.HttpRequest(
            "POST",
            "/api/rollouts",
            headers={"content-type": "application/json", "x-functions-key": READ_KEY},
            body=json.dumps({"model": "fraud", "version": "9", "reason": "x"}).encode(),
        )
    )
    assert started.status_code == 403
    assert world.store.read("fraud") == before
    assert pause({"x-functions-key": API_KEY}, {"reason": "x"}).status_code == 200


def test_only_read_keys_set_still_reads(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOCANARY_API_KEYS")
    monkeypatch.setenv("AUTOCANARY_API_READ_KEYS", READ_KEY)
    assert get({"x-functions-key": READ_KEY}).status_code == 200
    assert get({"x-functions-key": API_KEY}).status_code == 401
