"""The emulator's api-version table: which resource type a path is, what is refused, and that
every api-version the installed azure-ai-ml builds a client for is accepted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emulator.arm_versions import MFE_VERSIONS, WORKSPACE_VERSIONS, check_api_version, resource_type
from emulator.errors import ArmError

WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w"


@pytest.mark.parametrize(
    "path,expected",
    [
        (WS, "workspaces"),
        (f"{WS}/onlineEndpoints", "workspaces/onlineEndpoints"),
        (f"{WS}/onlineEndpoints/e/listKeys", "workspaces/onlineEndpoints"),
        (f"{WS}/onlineEndpoints/e/deployments/d/getLogs", "workspaces/onlineEndpoints/deployments"),
        (f"{WS}/data/n/versions/1", "workspaces/data"),
        (f"{WS}/models/n/versions/1", "workspaces/models"),
        (
            "/subscriptions/s/providers/Microsoft.MachineLearningServices/locations/l"
            "/mfeOperationsStatus/x",
            "locations/mfeOperationsStatus",
        ),
        ("/subscriptions/s/providers/Microsoft.Insights/metrics", None),
    ],
)
def test_resource_type_of_a_path(path: str, expected: str | None) -> None:
    assert resource_type(path) == expected


def test_every_api_version_of_the_installed_azure_ai_ml_is_accepted() -> None:
    import azure.ai.ml

    source = (Path(azure.ai.ml.__file__).parent / "_ml_client.py").read_text()
    versions = set(re.findall(r'api_version="(\d{4}-\d{2}-\d{2}(?:-preview)?)"', source))
    assert versions
    for version in sorted(versions):
        check_api_version(f"{WS}/onlineEndpoints/e/deployments/d", version, "westeurope")
        check_api_version(WS, version, "westeurope")


def test_a_workspace_only_version_is_refused_for_online_endpoints() -> None:
    assert "2021-07-01" in WORKSPACE_VERSIONS and "2021-07-01" not in MFE_VERSIONS
    check_api_version(WS, "2021-07-01", "westeurope")
    with pytest.raises(ArmError) as info:
        check_api_version(f"{WS}/onlineEndpoints/e", "2021-07-01", "westeurope")
    assert (info.value.status, info.value.code) == (400, "NoRegisteredProviderFound")
    assert "for type 'workspaces/onlineEndpoints'" in info.value.message
