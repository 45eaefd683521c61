"""Structural tests of infra/ (Terraform), offline: every .tf file is parsed with python-hcl2.

No Terraform binary or provider registry is needed (nor reachable); these tests pin what the
configuration must say for autocanary to work once applied: the settings the app reads, the
event wiring, the alert schema, the identity's roles, and that no secret is written in it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.settings_catalogue import SETTINGS
from tests.unit.infra_config import (
    HOST_SETTING_PREFIXES,
    INFRA,
    TFVARS_EXAMPLE,
    app_settings,
    config,
    local,
    parse_tf,
    resolve,
    resource,
)

# ------------------------------------------------------------------------------ the files


def test_every_tf_file_is_valid_hcl() -> None:
    """Each .tf file (and the tfvars example) parses and declares something."""
    paths = [*sorted(INFRA.glob("*.tf")), TFVARS_EXAMPLE]
    assert len(paths) >= 6
    for path in paths:
        assert parse_tf(path), f"{path.name} parsed to nothing"


def test_every_variable_has_a_description_and_a_type() -> None:
    variables = config()["variable"]
    assert variables
    for name, body in variables.items():
        assert str(body.get("description", "")).strip(), f"variable {name} has no description"
        assert str(body.get("type", "")).strip(), f"variable {name} has no type"


def test_every_string_and_number_variable_is_validated() -> None:
    """A bad name, GUID, path or bound fails at plan time with a message, not at apply."""
    for name, body in config()["variable"].items():
        if body["type"] in ("string", "number"):
            checks = body.get("validation", [])
            assert checks, f"variable {name} has no validation block"
            assert all(str(check["error_message"]).strip() for check in checks)


def test_every_output_has_a_description() -> None:
    outputs = config()["output"]
    assert outputs
    for name, body in outputs.items():
        assert str(body.get("description", "")).strip(), f"output {name} has no description"


def test_both_providers_are_pinned_to_a_major_version() -> None:
    required: dict[str, Any] = {}
    for block in config()["terraform"]:
        for providers in block.get("required_providers", []):
            required.update(providers)
    assert set(required) == {"azurerm", "azapi"}
    for name, spec in required.items():
        assert re.search(r"<\s*\d", spec["version"]), f"{name} has no upper version bound"


def test_every_resource_and_data_block_cites_its_doc_in_a_comment_above() -> None:
    for path in sorted(INFRA.glob("*.tf")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            if re.match(r'^(resource|data) "', line):
                assert index > 0 and lines[index - 1].startswith("#"), (
                    f"{path.name}:{index + 1} {line.strip()} has no comment directly above"
                )


def test_tfvars_example_names_only_declared_variables_and_every_required_one() -> None:
    variables = config()["variable"]
    example = parse_tf(TFVARS_EXAMPLE)
    assert set(example) <= set(variables), set(example) - set(variables)
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= set(example), required - set(example)


# -------------------------------------------------------------------------- app settings


@pytest.mark.parametrize(
    "name", sorted(name for name, (required, _) in SETTINGS.items() if required)
)
def test_required_app_setting_is_set_on_the_function_app(name: str) -> None:
    """Required by shared.settings; a `NAME__*` group is the identity-based form of NAME."""
    settings = app_settings()
    assert name in settings or any(key.startswith(f"{name}__") for key in settings), name


def test_a_rollout_policy_source_is_set() -> None:
    settings = app_settings()
    assert ("AUTOCANARY_POLICY_FILE" in settings) != ("AUTOCANARY_POLICY" in settings)


def test_every_app_setting_is_read_by_the_app_or_the_functions_host() -> None:
    """No misspelt setting that nothing would read."""
    settings = app_settings()
    for key in settings:
        assert key in SETTINGS or key.startswith(HOST_SETTING_PREFIXES), key
    assert "AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT" in SETTINGS


def test_host_storage_uses_the_identity_not_a_connection_string() -> None:
    settings = app_settings()
    assert "AzureWebJobsStorage" not in settings
    assert settings["AzureWebJobsStorage__accountName"] == "${azurerm_storage_account.this.name}"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == (
        "${azurerm_user_assigned_identity.app.client_id}"
    )


def test_app_authenticates_as_its_user_assigned_identity() -> None:
    settings = app_settings()
    assert settings["AUTOCANARY_CREDENTIAL"] == "managed-identity"
    assert settings["AZURE_CLIENT_ID"] == "${azurerm_user_assigned_identity.app.client_id}"


def test_rollout_store_is_the_table_endpoint_of_the_storage_account() -> None:
    settings = app_settings()
    assert "AUTOCANARY_STORAGE_CONNECTION" not in settings
    assert resolve(settings["AUTOCANARY_TABLE_ENDPOINT"]) == (
        '${trimsuffix(azurerm_storage_account.this.primary_table_endpoint, "/")}'
    )


def test_metrics_endpoint_is_built_from_the_workspace_region() -> None:
    endpoint = resolve(app_settings()["AUTOCANARY_METRICS_ENDPOINT"])
    assert endpoint == (
        "https://${data.azurerm_machine_learning_workspace.this.location}.metrics.monitor.azure.com"
    )


def test_workspace_settings_come_from_the_workspace_variables() -> None:
    settings = app_settings()
    assert settings["AZURE_SUBSCRIPTION_ID"] == "${var.subscription_id}"
    assert settings["AZURE_RESOURCE_GROUP"] == "${var.workspace_resource_group_name}"
    assert settings["AZUREML_WORKSPACE_NAME"] == "${var.workspace_name}"


def test_lifecycle_topic_endpoint_is_set_only_with_the_topic() -> None:
    optional = local("optional_app_settings")
    assert "var.lifecycle_topic_enabled ?" in optional
    setting = "AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT = azurerm_eventgrid_topic.lifecycle[0].endpoint"
    assert setting in optional
    assert local("app_settings") == (
        "${merge(local.base_app_settings, local.optional_app_settings)}"
    )


def test_app_settings_resource_sets_every_setting_on_the_function_app() -> None:
    settings = resource("azapi_resource", "app_settings")
    assert settings["type"].startswith("Microsoft.Web/sites/config@")
    assert settings["name"] == "appsettings"
    assert settings["parent_id"] == "${azapi_resource.function_app.id}"
    assert settings["body"]["properties"] == "${local.app_settings}"


# ------------------------------------------------------------------ function app and plan


def test_function_app_runs_python_311_on_a_flex_consumption_linux_plan() -> None:
    plan = resource("azurerm_service_plan", "this")
    assert (plan["sku_name"], plan["os_type"]) == ("FC1", "Linux")
    app = resource("azapi_resource", "function_app")
    assert app["type"].startswith("Microsoft.Web/sites@")
    assert app["body"]["kind"] == "functionapp,linux"
    properties = app["body"]["properties"]
    assert properties["serverFarmId"] == "${azurerm_service_plan.this.id}"
    assert properties["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}


def test_function_app_takes_https_only_with_tls_12_and_no_ftp() -> None:
    """checkov has no checks for azapi bodies, so these settings are pinned here."""
    properties = resource("azapi_resource", "function_app")["body"]["properties"]
    assert properties["httpsOnly"] is True
    assert properties["siteConfig"] == {"minTlsVersion": "1.2", "ftpsState": "Disabled"}


def test_function_app_runs_as_the_user_assigned_identity() -> None:
    app = resource("azapi_resource", "function_app")
    (identity,) = app["identity"]
    assert identity["type"] == "UserAssigned"
    assert identity["identity_ids"] == ["${azurerm_user_assigned_identity.app.id}"]


def test_deployment_package_is_read_with_the_identity() -> None:
    storage = resource("azapi_resource", "function_app")["body"]["properties"]["functionAppConfig"][
        "deployment"
    ]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "${azurerm_user_assigned_identity.app.id}",
    }


def test_storage_account_refuses_shared_key_access() -> None:
    account = resource("azurerm_storage_account", "this")
    assert account["shared_access_key_enabled"] is False
    assert account["allow_nested_items_to_be_public"] is False
    (azurerm,) = [block["azurerm"] for block in config()["provider"] if "azurerm" in block]
    assert azurerm["storage_use_azuread"] is True
