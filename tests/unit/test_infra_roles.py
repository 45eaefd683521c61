"""infra/ for identities and secrets: every role assignment goes to one of the two identities
and grants no more than the app calls, no key or key-based connection string is used or
written, and the HTTP API keys come from Key Vault."""

from __future__ import annotations

import re

from shared.settings_catalogue import SETTINGS
from tests.unit.infra_config import (
    IDENTITY_PRINCIPAL,
    ML,
    code_text,
    config,
    local,
    resource,
    resources_of,
)

# ------------------------------------------------------------------------- roles, secrets


def test_every_role_assignment_is_granted_to_one_of_the_two_identities() -> None:
    assignments = resources_of("azurerm_role_assignment")
    assert assignments
    principals = {IDENTITY_PRINCIPAL, "${azurerm_user_assigned_identity.events.principal_id}"}
    for body in assignments:
        assert body["principal_id"] in principals
        assert body["principal_type"] == "ServicePrincipal"


def test_identity_holds_the_roles_the_app_and_its_host_need_and_no_broader_ones() -> None:
    base = {(v["scope"], v["role"]) for v in local("base_role_assignments").values()}
    storage = "${azurerm_storage_account.this.id}"
    assert base == {
        # the metrics batch API refuses a caller without it on the subscription itself
        ("/subscriptions/${var.subscription_id}", "Monitoring Reader"),
        (storage, "Storage Blob Data Owner"),
        (storage, "Storage Table Data Contributor"),
        ("${azurerm_application_insights.this.id}", "Monitoring Metrics Publisher"),
    }
    optional = local("optional_role_assignments")
    assert "var.lifecycle_topic_enabled ?" in optional
    assert 'role = "EventGrid Data Sender"' in optional
    assert "azurerm_eventgrid_topic.lifecycle[0].id" in optional
    assert "AzureML Data Scientist" not in code_text()
    assert "Storage Queue Data Contributor" not in code_text()


# The Azure ML actions shared/azure/endpoints.py needs through MLClient (see infra/roles.tf).
ENDPOINT_OPERATOR_ACTIONS = [
    f"{ML}/read",
    f"{ML}/onlineEndpoints/read",
    f"{ML}/onlineEndpoints/write",
    f"{ML}/onlineendpoints/operationsstatus/read",
    f"{ML}/onlineendpoints/operationresults/read",
    f"{ML}/onlineEndpoints/deployments/read",
    f"{ML}/onlineEndpoints/deployments/write",
    f"{ML}/onlineEndpoints/deployments/delete",
    f"{ML}/onlineendpoints/deployments/operationsstatus/read",
    f"{ML}/onlineendpoints/deployments/operationresults/read",
    f"{ML}/onlineendpoints/deployments/getlogs/action",
    f"{ML}/onlineEndpoints/listKeys/action",  # the smoke test's key (shared/azure/scoring.py)
]
DATA_COLLECTION_ACTIONS = [
    f"{ML}/data/versions/read",
    f"{ML}/data/versions/write",
    f"{ML}/datastores/read",
]


def test_custom_role_grants_exactly_the_azure_ml_actions_the_app_calls() -> None:
    assert local("endpoint_actions") == ENDPOINT_OPERATOR_ACTIONS
    assert local("data_collection_actions") == DATA_COLLECTION_ACTIONS
    for action in ENDPOINT_OPERATOR_ACTIONS + DATA_COLLECTION_ACTIONS:
        assert "*" not in action and "regeneratekeys" not in action.lower(), action
    assert local("endpoint_operator_actions") == (
        "${concat(local.endpoint_actions, var.role_allows_data_collection_assets ? "
        "local.data_collection_actions : [])}"
    )


# The autoscale actions shared/azure/autoscale.py needs through azure-mgmt-monitor.
AUTOSCALE_ACTIONS = [
    "Microsoft.Insights/autoscalesettings/read",
    "Microsoft.Insights/autoscalesettings/write",
    "Microsoft.Insights/autoscalesettings/delete",
]


def test_autoscale_role_grants_exactly_the_autoscale_actions_on_the_resource_group() -> None:
    """Autoscale settings are resources of the resource group (not of the workspace): their
    role is held there, with read, write and delete and nothing else."""
    assert local("autoscale_actions") == AUTOSCALE_ACTIONS
    role = resource("azurerm_role_definition", "autoscale_operator")
    group = "${local.workspace_resource_group_id}"
    assert role["scope"] == group
    assert role["assignable_scopes"] == [group]
    (permissions,) = role["permissions"]
    assert permissions == {"actions": "${local.autoscale_actions}"}
    assignment = resource("azurerm_role_assignment", "app_autoscale_operator")
    assert assignment["scope"] == group
    assert assignment["role_definition_id"] == (
        "${azurerm_role_definition.autoscale_operator.role_definition_resource_id}"
    )
    assert assignment["principal_id"] == IDENTITY_PRINCIPAL


def test_azure_mls_operation_status_is_readable_at_the_subscription_by_its_own_role() -> None:
    """The status of a traffic update or a create is a resource of the subscription
    (.../locations/{region}/mfeOperationsStatus/...): a role of its own grants its read
    there, so narrowing Monitoring Reader never breaks a traffic update or a rollback."""
    assert local("operation_status_actions") == [
        "Microsoft.MachineLearningServices/locations/*/read"
    ]
    role = resource("azurerm_role_definition", "operation_status_reader")
    subscription = "/subscriptions/${var.subscription_id}"
    assert role["scope"] == subscription and role["assignable_scopes"] == [subscription]
    (permissions,) = role["permissions"]
    assert permissions == {"actions": "${local.operation_status_actions}"}
    assignment = resource("azurerm_role_assignment", "app_operation_status_reader")
    assert assignment["scope"] == subscription
    assert assignment["principal_id"] == IDENTITY_PRINCIPAL


def test_custom_role_is_held_by_the_app_on_the_workspace_only() -> None:
    """Custom roles are assignable at resource group scope at the finest: the role lives in
    the workspace's resource group and is assigned on the workspace alone."""
    role = resource("azurerm_role_definition", "endpoint_operator")
    workspace = "${data.azurerm_machine_learning_workspace.this.id}"
    group = "${local.workspace_resource_group_id}"
    assert local("workspace_resource_group_id") == (
        "/subscriptions/${var.subscription_id}/resourceGroups/${var.workspace_resource_group_name}"
    )
    assert role["scope"] == group
    assert role["assignable_scopes"] == [group]
    (permissions,) = role["permissions"]
    assert permissions == {"actions": "${local.endpoint_operator_actions}"}
    assignment = resource("azurerm_role_assignment", "app_endpoint_operator")
    assert assignment["scope"] == workspace
    assert assignment["role_definition_id"] == (
        "${azurerm_role_definition.endpoint_operator.role_definition_resource_id}"
    )
    assert assignment["principal_id"] == IDENTITY_PRINCIPAL


def test_no_storage_key_or_key_based_connection_string_is_used() -> None:
    text = code_text()
    for needle in (
        "AccountKey",
        "SharedAccessKey",
        "primary_access_key",
        "secondary_access_key",
        "primary_connection_string",
        "storage_access_key",
        "UseDevelopmentStorage",
    ):
        assert needle not in text, needle


def test_no_key_is_written_as_a_literal() -> None:
    """Keys come from Azure at apply time: no `code=`/`key =` literal, no key-like token."""
    text = code_text()
    assert not re.search(r"[?&]code=[^$]", text)
    assert not re.search(r'(?i)\b\w*(key|secret|password)\w*\s*=\s*"[^"$]', text)
    assert not re.search(r"[A-Za-z0-9+/_-]{30,}={1,2}", text), "a padded base64 token"
    assert not re.search(r"\b[A-Za-z0-9]{40,}\b", text), "a long alphanumeric token"


# ------------------------------------------------------------------------- HTTP API keys


def test_api_keys_setting_is_a_key_vault_reference_set_only_with_the_variable() -> None:
    optional = local("optional_app_settings")
    assert "var.api_keys == null ? {} : {AUTOCANARY_API_KEYS = local.api_keys_reference}" in (
        optional
    )
    reference = local("api_keys_reference")
    assert "@Microsoft.KeyVault(SecretUri=https://%s.vault.azure.net/secrets/%s/)" in reference
    assert "AUTOCANARY_API_KEYS" in SETTINGS
    variable = config()["variable"]["api_keys"]
    assert variable["default"] is None and variable["validation"]


def test_key_vault_references_resolve_with_the_user_assigned_identity() -> None:
    site = resource("azapi_resource", "function_app")["body"]["properties"]
    assert site["keyVaultReferenceIdentity"] == "${azurerm_user_assigned_identity.app.id}"


def test_identity_may_read_the_api_keys_secret_only() -> None:
    optional = local("optional_role_assignments")
    assert 'role = "Key Vault Secrets User"' in optional
    assert "${var.api_keys.key_vault_id}/secrets/${var.api_keys.secret_name}" in optional
    assert "Key Vault Secrets Officer" not in code_text()
    assert "Key Vault Administrator" not in code_text()


def test_read_only_keys_are_a_key_vault_reference_readable_on_their_secret_only() -> None:
    optional = local("optional_role_assignments")
    assert "${var.api_read_keys.key_vault_id}/secrets/${var.api_read_keys.secret_name}" in optional
    assert "AUTOCANARY_API_READ_KEYS = local.api_read_keys_reference" in local(
        "optional_app_settings"
    )
    assert "@Microsoft.KeyVault(SecretUri=" in local("api_read_keys_reference")
    variable = config()["variable"]["api_read_keys"]
    assert variable["default"] is None and variable["validation"]
