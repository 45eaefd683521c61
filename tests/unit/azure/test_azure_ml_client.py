"""MLClient's options and construction for the adapters (no network, no real client)."""

from __future__ import annotations

from typing import Any

import pytest
from azure_test_helpers import settings

from shared.azure import retry
from shared.azure.ml_client import build_ml_client, cloud_name, ml_client_options


def test_client_options_point_mlclient_at_an_arm_override() -> None:
    s = settings(arm_endpoint="https://127.0.0.1:8443/", ca_bundle="/tmp/ca.pem")
    options = ml_client_options(s)
    assert options["cloud"] == cloud_name(s.arm_endpoint or "") == "AutocanaryArm127_0_0_1_8443"
    assert options["cloud_metadata"]["resource_manager"] == "https://127.0.0.1:8443/"
    assert options["connection_verify"] == "/tmp/ca.pem"
    assert options["retry_total"] == 0
    assert "cloud" not in ml_client_options(settings())


def test_without_a_pacer_the_client_gets_the_options_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the scoring adapter builds it: the workspace and the options, no per-call policy."""
    import azure.ai.ml

    seen: dict[str, Any] = {}

    def fake_client(credential: Any, **kw: Any) -> object:
        seen.update(kw, credential=credential)
        return object()

    monkeypatch.setattr(azure.ai.ml, "MLClient", fake_client)
    credential = object()
    build_ml_client(settings(), credential)
    assert seen == {
        "credential": credential,
        "subscription_id": settings().subscription_id,
        "resource_group_name": "rg",
        "workspace_name": "ws",
        **ml_client_options(settings()),
    }
    assert "per_call_policies" not in seen
    build_ml_client(settings(), credential, pacer=retry.Pacer())
    assert "per_call_policies" in seen
