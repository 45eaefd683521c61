"""Structural tests of infra/ (Terraform), offline: every .tf file is parsed with python-hcl2.

No Terraform binary or provider registry is needed (nor reachable); these tests pin what the
configuration must say for autocanary to work once applied: the settings the app reads, the
event wiring, the alert schema, the identity's roles, and that no secret is written in it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from shared.settings_catalogue import SETTINGS

INFRA = Path(__file__).resolve().parents[2] / "infra"
TFVARS_EXAMPLE = INFRA / "terraform.tfvars.example"

# Quotes stripped, blocks as lists of dicts, expressions as "${...}" strings.
_OPTIONS = SerializationOptions(
    strip_string_quotes=True, with_comments=False, explicit_blocks=False
)

# App settings read by the Functions host or its Python worker rather than by autocanary
# (prefix match).
HOST_SETTING_PREFIXES = ("AzureWebJobsStorage__", "APPLICATIONINSIGHTS_", "PYTHON_")

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"
ENDPOINT_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
IDENTITY_PRINCIPAL = "${azurerm_user_assigned_identity.app.principal_id}"


def _parse(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    parsed: dict[str, Any] = hcl2.loads(text, serialization_options=_OPTIONS)
    return parsed


@cache
def _config() -> dict[str, Any]:
    """All .tf files merged: resources/data by (type, name), variables, outputs, locals."""
    config: dict[str, Any] = {
        "resource": {},
        "data": {},
        "ephemeral": {},
        "variable": {},
        "output": {},
        "locals": {},
        "terraform": [],
        "provider": [],
    }
    for path in sorted(INFRA.glob("*.tf")):
        parsed = _parse(path)
        for kind in ("resource", "data", "ephemeral"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    for name, body in named.items():
                        config[kind][(type_, name)] = body
        for kind in ("variable", "output"):
            for block in parsed.get(kind, []):
                config[kind].update(block)
        for block in parsed.get("locals", []):
            config["locals"].update(block)
        config["terraform"].extend(parsed.get("terraform", []))
        config["provider"].extend(parsed.get("provider", []))
    return config


def _resource(type_: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = _config()["resource"][(type_, name)]
    return body


def _resources_of(type_: str) -> list[dict[str, Any]]:
    return [body for (t, _), body in _config()["resource"].items() if t == type_]


def _model_registered_subscription() -> dict[str, Any]:
    return _resource("azurerm_eventgrid_system_topic_event_subscription", "model_registered")


def _local(name: str) -> Any:
    return _config()["locals"][name]


def _resolve(value: Any) -> Any:
    """Replace a bare "${local.NAME}" by the local's own value (recursively)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{local\.(\w+)\}", value)
        if match:
            return _resolve(_local(match.group(1)))
    return value


def _app_settings() -> dict[str, Any]:
    settings: dict[str, Any] = _local("base_app_settings")
    return settings


def _code_text() -> str:
    """Every .tf file and the tfvars example, full-line comments left out."""
    files = [*sorted(INFRA.glob("*.tf")), TFVARS_EXAMPLE]
    lines = [line for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


# ------------------------------------------------------------------------------ the files


def test_every_tf_file_is_valid_hcl() -> None:
    """Each .tf file (and the tfvars example) parses and declares something."""
    paths = [*sorted(INFRA.glob("*.tf")), TFVARS_EXAMPLE]
    assert len(paths) >= 6
    for path in paths:
        assert _parse(path), f"{path.name} parsed to nothing"


def test_every_variable_has_a_description_and_a_type() -> None:
    variables = _config()["variable"]
    assert variables
    for name, body in variables.items():
        assert str(body.get("description", "")).strip(), f"variable {name} has no description"
        assert str(body.get("type", "")).strip(), f"variable {name} has no type"


def test_every_string_and_number_variable_is_validated() -> None:
    """A bad name, GUID, path or bound fails at plan time with a message, not at apply."""
    for name, body in _config()["variable"].items():
        if body["type"] in ("string", "number"):
            checks = body.get("validation", [])
            assert checks, f"variable {name} has no validation block"
            assert all(str(check["error_message"]).strip() for check in checks)


def test_every_output_has_a_description() -> None:
    outputs = _config()["output"]
    assert outputs
    for name, body in outputs.items():
        assert str(body.get("description", "")).strip(), f"output {name} has no description"


def test_both_providers_are_pinned_to_a_major_version() -> None:
    required: dict[str, Any] = {}
    for block in _config()["terraform"]:
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
    variables = _config()["variable"]
    example = _parse(TFVARS_EXAMPLE)
    assert set(example) <= set(variables), set(example) - set(variables)
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= set(example), required - set(example)


# -------------------------------------------------------------------------- app settings


@pytest.mark.parametrize(
    "name", sorted(name for name, (required, _) in SETTINGS.items() if required)
)
def test_required_app_setting_is_set_on_the_function_app(name: str) -> None:
    """Required by shared.settings; a `NAME__*` group is the identity-based form of NAME."""
    settings = _app_settings()
    assert name in settings or any(key.startswith(f"{name}__") for key in settings), name


def test_a_rollout_policy_source_is_set() -> None:
    settings = _app_settings()
    assert ("AUTOCANARY_POLICY_FILE" in settings) != ("AUTOCANARY_POLICY" in settings)


def test_every_app_setting_is_read_by_the_app_or_the_functions_host() -> None:
    """No misspelt setting that nothing would read."""
    settings = _app_settings()
    for key in settings:
        assert key in SETTINGS or key.startswith(HOST_SETTING_PREFIXES), key
    assert "AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT" in SETTINGS


def test_host_storage_uses_the_identity_not_a_connection_string() -> None:
    settings = _app_settings()
    assert "AzureWebJobsStorage" not in settings
    assert settings["AzureWebJobsStorage__accountName"] == "${azurerm_storage_account.this.name}"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == (
        "${azurerm_user_assigned_identity.app.client_id}"
    )


def test_app_authenticates_as_its_user_assigned_identity() -> None:
    settings = _app_settings()
    assert settings["AUTOCANARY_CREDENTIAL"] == "managed-identity"
    assert settings["AZURE_CLIENT_ID"] == "${azurerm_user_assigned_identity.app.client_id}"


def test_rollout_store_is_the_table_endpoint_of_the_storage_account() -> None:
    settings = _app_settings()
    assert "AUTOCANARY_STORAGE_CONNECTION" not in settings
    assert _resolve(settings["AUTOCANARY_TABLE_ENDPOINT"]) == (
        '${trimsuffix(azurerm_storage_account.this.primary_table_endpoint, "/")}'
    )


def test_metrics_endpoint_is_built_from_the_workspace_region() -> None:
    endpoint = _resolve(_app_settings()["AUTOCANARY_METRICS_ENDPOINT"])
    assert endpoint == (
        "https://${data.azurerm_machine_learning_workspace.this.location}.metrics.monitor.azure.com"
    )


def test_workspace_settings_come_from_the_workspace_variables() -> None:
    settings = _app_settings()
    assert settings["AZURE_SUBSCRIPTION_ID"] == "${var.subscription_id}"
    assert settings["AZURE_RESOURCE_GROUP"] == "${var.workspace_resource_group_name}"
    assert settings["AZUREML_WORKSPACE_NAME"] == "${var.workspace_name}"


def test_lifecycle_topic_endpoint_is_set_only_with_the_topic() -> None:
    optional = _local("optional_app_settings")
    assert "var.lifecycle_topic_enabled ?" in optional
    setting = "AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT = azurerm_eventgrid_topic.lifecycle[0].endpoint"
    assert setting in optional
    assert _local("app_settings") == (
        "${merge(local.base_app_settings, local.optional_app_settings)}"
    )


def test_app_settings_resource_sets_every_setting_on_the_function_app() -> None:
    settings = _resource("azapi_resource", "app_settings")
    assert settings["type"].startswith("Microsoft.Web/sites/config@")
    assert settings["name"] == "appsettings"
    assert settings["parent_id"] == "${azapi_resource.function_app.id}"
    assert settings["body"]["properties"] == "${local.app_settings}"


# ------------------------------------------------------------------ function app and plan


def test_function_app_runs_python_311_on_a_flex_consumption_linux_plan() -> None:
    plan = _resource("azurerm_service_plan", "this")
    assert (plan["sku_name"], plan["os_type"]) == ("FC1", "Linux")
    app = _resource("azapi_resource", "function_app")
    assert app["type"].startswith("Microsoft.Web/sites@")
    assert app["body"]["kind"] == "functionapp,linux"
    properties = app["body"]["properties"]
    assert properties["serverFarmId"] == "${azurerm_service_plan.this.id}"
    assert properties["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}


def test_function_app_takes_https_only_with_tls_12_and_no_ftp() -> None:
    """checkov has no checks for azapi bodies, so these settings are pinned here."""
    properties = _resource("azapi_resource", "function_app")["body"]["properties"]
    assert properties["httpsOnly"] is True
    assert properties["siteConfig"] == {"minTlsVersion": "1.2", "ftpsState": "Disabled"}


def test_function_app_runs_as_the_user_assigned_identity() -> None:
    app = _resource("azapi_resource", "function_app")
    (identity,) = app["identity"]
    assert identity["type"] == "UserAssigned"
    assert identity["identity_ids"] == ["${azurerm_user_assigned_identity.app.id}"]


def test_deployment_package_is_read_with_the_identity() -> None:
    storage = _resource("azapi_resource", "function_app")["body"]["properties"][
        "functionAppConfig"
    ]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "${azurerm_user_assigned_identity.app.id}",
    }


def test_storage_account_refuses_shared_key_access() -> None:
    account = _resource("azurerm_storage_account", "this")
    assert account["shared_access_key_enabled"] is False
    assert account["allow_nested_items_to_be_public"] is False
    (azurerm,) = [block["azurerm"] for block in _config()["provider"] if "azurerm" in block]
    assert azurerm["storage_use_azuread"] is True


# ------------------------------------------------------------------------------ Event Grid


def test_system_topic_is_on_the_workspace() -> None:
    topic = _resource("azurerm_eventgrid_system_topic", "workspace")
    assert topic["topic_type"] == "Microsoft.MachineLearningServices.Workspaces"
    assert topic["source_resource_id"] == "${data.azurerm_machine_learning_workspace.this.id}"


def test_event_subscription_delivers_model_registered_to_on_model_registered() -> None:
    subscription = _model_registered_subscription()
    (endpoint,) = subscription["azure_function_endpoint"]
    assert endpoint["function_id"] == (
        "${azapi_resource.function_app.id}/functions/on_model_registered"
    )
    assert [_resolve(t) for t in subscription["included_event_types"]] == [MODEL_REGISTERED]


def test_event_subscription_retries_delivery() -> None:
    subscription = _model_registered_subscription()
    (retry,) = subscription["retry_policy"]
    assert retry == {
        "max_delivery_attempts": "${var.event_max_delivery_attempts}",
        "event_time_to_live": "${var.event_ttl_minutes}",
    }


def test_event_subscription_subject_prefix_filter_is_optional() -> None:
    subscription = _model_registered_subscription()
    (dynamic,) = subscription["dynamic"]
    subject_filter = dynamic["subject_filter"]
    assert "var.model_subject_prefix ==" in subject_filter["for_each"]
    assert subject_filter["content"][0]["subject_begins_with"] == "${subject_filter.value}"


def test_lifecycle_topic_takes_cloudevents_with_entra_id_only() -> None:
    topic = _resource("azurerm_eventgrid_topic", "lifecycle")
    assert topic["count"] == "${var.lifecycle_topic_enabled ? 1 : 0}"
    assert topic["input_schema"] == "CloudEventSchemaV1_0"
    assert topic["local_auth_enabled"] is False


def test_what_needs_the_published_code_waits_for_functions_deployed() -> None:
    """Event Grid validates the function; function keys exist only once the host runs."""
    gated = [
        _model_registered_subscription(),
        _resource("azapi_resource", "action_group"),
        _resource("azapi_resource_action", "alert_function_key"),
        _config()["ephemeral"][("azapi_resource_action", "alert_function_keys")],
    ]
    for body in gated:
        assert body["count"] == "${var.functions_deployed ? 1 : 0}"
    assert _local("guarded_endpoints") == "${var.functions_deployed ? var.endpoints : {}}"


def test_event_subscription_dead_letters_undelivered_events_with_an_identity() -> None:
    subscription = _model_registered_subscription()
    (destination,) = subscription["storage_blob_dead_letter_destination"]
    assert destination == {
        "storage_account_id": "${azurerm_storage_account.this.id}",
        "storage_blob_container_name": "${azurerm_storage_container.dead_letter.name}",
    }
    (identity,) = subscription["dead_letter_identity"]
    assert identity == {
        "type": "UserAssigned",
        "user_assigned_identity": "${azurerm_user_assigned_identity.events.id}",
    }
    (topic_identity,) = _resource("azurerm_eventgrid_system_topic", "workspace")["identity"]
    assert topic_identity["identity_ids"] == ["${azurerm_user_assigned_identity.events.id}"]


def test_event_grid_identity_may_write_only_the_dead_letter_container() -> None:
    assignment = _resource("azurerm_role_assignment", "events_dead_letter")
    assert assignment["scope"] == "${azurerm_storage_container.dead_letter.id}"
    assert assignment["role_definition_name"] == "Storage Blob Data Contributor"
    assert assignment["principal_id"] == "${azurerm_user_assigned_identity.events.principal_id}"
    assert "azurerm_role_assignment.events_dead_letter" in str(
        _model_registered_subscription()["depends_on"]
    )


# ---------------------------------------------------------------------------------- alerts


def test_action_group_calls_the_alerts_route_with_the_common_alert_schema() -> None:
    group = _resource("azapi_resource", "action_group")
    assert group["type"].startswith("Microsoft.Insights/actionGroups@")
    assert group["location"] == "global"
    (receiver,) = group["sensitive_body"]["properties"]["webhookReceivers"]
    assert receiver["useCommonAlertSchema"] is True
    assert receiver["serviceUri"].startswith("${local.alerts_url_base}?code=")
    assert _local("alerts_url_base").startswith("https://")
    assert _local("alerts_url_base").endswith("/api/alerts")


def test_alert_webhook_uses_a_function_key_of_on_alert_not_a_host_key() -> None:
    """A host key would also open promote and abort: the key belongs to on_alert alone."""
    assert _local("alert_function_name") == "on_alert"
    function_id = "${azapi_resource.function_app.id}/functions/${local.alert_function_name}"
    assert _local("alert_function_id") == function_id
    key = _resource("azapi_resource_action", "alert_function_key")
    assert key["type"].startswith("Microsoft.Web/sites/functions/keys@")
    assert key["method"] == "PUT"
    assert key["resource_id"] == "${local.alert_function_id}/keys/${local.webhook_code_name}"
    assert "value" not in key["body"]["properties"], "Azure generates the key"
    keys = _config()["ephemeral"][("azapi_resource_action", "alert_function_keys")]
    assert (keys["resource_id"], keys["action"]) == ("${local.alert_function_id}", "listkeys")
    (receiver,) = _resource("azapi_resource", "action_group")["sensitive_body"]["properties"][
        "webhookReceivers"
    ]
    assert receiver["serviceUri"].endswith(
        "?code=${ephemeral.azapi_resource_action.alert_function_keys[0]"
        ".output.properties[local.webhook_code_name]}"
    )
    assert "azurerm_function_app_host_keys" not in _code_text()


def test_no_function_key_reaches_the_terraform_state() -> None:
    """The key is created without exporting the response, read by an ephemeral resource, and
    passed only in a write-only argument (sensitive_body)."""
    key = _resource("azapi_resource_action", "alert_function_key")
    assert "response_export_values" not in key
    group = _resource("azapi_resource", "action_group")
    assert "webhookReceivers" not in str(group["body"])
    assert "sensitive_body_version" not in group, "without it a rotated key is sent on apply"
    for (type_, name), body in _config()["resource"].items():
        if (type_, name) != ("azapi_resource", "action_group"):
            assert "ephemeral." not in str(body), f"{type_}.{name} stores an ephemeral value"


def test_metric_alerts_cover_latency_5xx_and_model_errors_on_each_endpoint() -> None:
    rules = _local("alert_rules")
    assert set(rules) == {"latency-p99", "errors-5xx", "model-errors"}
    assert rules["latency-p99"]["metric"] == "RequestLatency_P99"
    assert rules["latency-p99"]["filters"] == []
    assert rules["errors-5xx"]["metric"] == "RequestsPerMinute"
    assert rules["errors-5xx"]["filters"] == [
        {"name": "statusCodeClass", "operator": "Include", "values": ["5xx"]}
    ]
    variables = _config()["variable"]["endpoints"]["type"]
    for rule in rules.values():
        assert rule["threshold"] in variables, rule["threshold"]
    assert "setproduct(keys(local.guarded_endpoints), keys(local.alert_rules))" in _local(
        "metric_alerts"
    )


def test_model_error_alert_counts_424_responses() -> None:
    """A failing scoring script is answered 424 (a 4xx), which the 5xx rule never counts."""
    rule = _local("alert_rules")["model-errors"]
    assert rule["metric"] == "RequestsPerMinute"
    assert rule["filters"] == [{"name": "statusCode", "operator": "Include", "values": ["424"]}]


def test_metric_alerts_are_split_by_deployment_by_default() -> None:
    split = _local("split_by_deployment")
    assert split.startswith("${var.alert_split_by_deployment ?")
    assert '[{name = "deployment", operator = "Include", values = ["*"]}]' in split
    assert _config()["variable"]["alert_split_by_deployment"]["default"] is True
    (criteria,) = _resource("azurerm_monitor_metric_alert", "endpoint")["criteria"]
    (dynamic,) = criteria["dynamic"]
    assert dynamic["dimension"]["for_each"] == (
        "${concat(each.value.rule.filters, local.split_by_deployment)}"
    )


def test_metric_alert_watches_the_online_endpoint_and_notifies_the_app() -> None:
    alert = _resource("azurerm_monitor_metric_alert", "endpoint")
    assert alert["for_each"] == "${local.metric_alerts}"
    assert alert["scopes"] == [
        "${data.azurerm_machine_learning_workspace.this.id}/onlineEndpoints/${each.value.endpoint}"
    ]
    (criteria,) = alert["criteria"]
    assert _resolve(criteria["metric_namespace"]) == ENDPOINT_NAMESPACE
    assert criteria["metric_name"] == "${each.value.rule.metric}"
    assert criteria["operator"] == "GreaterThan"
    assert criteria["threshold"] == "${each.value.threshold}"
    (action,) = alert["dynamic"]
    assert action["action"]["for_each"] == "${local.action_group_ids}"
    assert _local("action_group_ids") == (
        "${concat(azapi_resource.action_group[*].id, var.additional_action_group_ids)}"
    )


def test_requests_per_minute_is_aggregated_by_average() -> None:
    """The metric reference lists only Average for RequestsPerMinute (nor Total, nor Count)."""
    (criteria,) = _resource("azurerm_monitor_metric_alert", "endpoint")["criteria"]
    assert criteria["aggregation"] == "Average"


# ------------------------------------------------------------------------- roles, secrets


def test_every_role_assignment_is_granted_to_one_of_the_two_identities() -> None:
    assignments = _resources_of("azurerm_role_assignment")
    assert assignments
    principals = {IDENTITY_PRINCIPAL, "${azurerm_user_assigned_identity.events.principal_id}"}
    for body in assignments:
        assert body["principal_id"] in principals
        assert body["principal_type"] == "ServicePrincipal"


def test_identity_holds_the_roles_the_app_and_its_host_need_and_no_broader_ones() -> None:
    base = {(v["scope"], v["role"]) for v in _local("base_role_assignments").values()}
    workspace = "${data.azurerm_machine_learning_workspace.this.id}"
    storage = "${azurerm_storage_account.this.id}"
    assert base == {
        (workspace, "Monitoring Reader"),
        (storage, "Storage Blob Data Owner"),
        (storage, "Storage Table Data Contributor"),
        ("${azurerm_application_insights.this.id}", "Monitoring Metrics Publisher"),
    }
    optional = _local("optional_role_assignments")
    assert "var.lifecycle_topic_enabled ?" in optional
    assert 'role = "EventGrid Data Sender"' in optional
    assert "azurerm_eventgrid_topic.lifecycle[0].id" in optional
    assert "AzureML Data Scientist" not in _code_text()
    assert "Storage Queue Data Contributor" not in _code_text()


# The Azure ML actions shared/azure/endpoints.py needs through MLClient (see infra/roles.tf).
ML = "Microsoft.MachineLearningServices/workspaces"
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
    assert _local("endpoint_actions") == ENDPOINT_OPERATOR_ACTIONS
    assert _local("data_collection_actions") == DATA_COLLECTION_ACTIONS
    for action in ENDPOINT_OPERATOR_ACTIONS + DATA_COLLECTION_ACTIONS:
        assert "*" not in action and "regeneratekeys" not in action.lower(), action
    assert _local("endpoint_operator_actions") == (
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
    assert _local("autoscale_actions") == AUTOSCALE_ACTIONS
    role = _resource("azurerm_role_definition", "autoscale_operator")
    group = "${local.workspace_resource_group_id}"
    assert role["scope"] == group
    assert role["assignable_scopes"] == [group]
    (permissions,) = role["permissions"]
    assert permissions == {"actions": "${local.autoscale_actions}"}
    assignment = _resource("azurerm_role_assignment", "app_autoscale_operator")
    assert assignment["scope"] == group
    assert assignment["role_definition_id"] == (
        "${azurerm_role_definition.autoscale_operator.role_definition_resource_id}"
    )
    assert assignment["principal_id"] == IDENTITY_PRINCIPAL


def test_custom_role_is_held_by_the_app_on_the_workspace_only() -> None:
    """Custom roles are assignable at resource group scope at the finest: the role lives in
    the workspace's resource group and is assigned on the workspace alone."""
    role = _resource("azurerm_role_definition", "endpoint_operator")
    workspace = "${data.azurerm_machine_learning_workspace.this.id}"
    group = "${local.workspace_resource_group_id}"
    assert _local("workspace_resource_group_id") == (
        "/subscriptions/${var.subscription_id}/resourceGroups/${var.workspace_resource_group_name}"
    )
    assert role["scope"] == group
    assert role["assignable_scopes"] == [group]
    (permissions,) = role["permissions"]
    assert permissions == {"actions": "${local.endpoint_operator_actions}"}
    assignment = _resource("azurerm_role_assignment", "app_endpoint_operator")
    assert assignment["scope"] == workspace
    assert assignment["role_definition_id"] == (
        "${azurerm_role_definition.endpoint_operator.role_definition_resource_id}"
    )
    assert assignment["principal_id"] == IDENTITY_PRINCIPAL


def test_no_storage_key_or_key_based_connection_string_is_used() -> None:
    text = _code_text()
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
    text = _code_text()
    assert not re.search(r"[?&]code=[^$]", text)
    assert not re.search(r'(?i)\b\w*(key|secret|password)\w*\s*=\s*"[^"$]', text)
    assert not re.search(r"[A-Za-z0-9+/_-]{30,}={1,2}", text), "a padded base64 token"
    assert not re.search(r"\b[A-Za-z0-9]{40,}\b", text), "a long alphanumeric token"


# ------------------------------------------------------------------------- HTTP API keys


def test_api_keys_setting_is_a_key_vault_reference_set_only_with_the_variable() -> None:
    optional = _local("optional_app_settings")
    assert "var.api_keys == null ? {} : {AUTOCANARY_API_KEYS = local.api_keys_reference}" in (
        optional
    )
    reference = _local("api_keys_reference")
    assert "@Microsoft.KeyVault(SecretUri=https://%s.vault.azure.net/secrets/%s/)" in reference
    assert "AUTOCANARY_API_KEYS" in SETTINGS
    variable = _config()["variable"]["api_keys"]
    assert variable["default"] is None and variable["validation"]


def test_key_vault_references_resolve_with_the_user_assigned_identity() -> None:
    site = _resource("azapi_resource", "function_app")["body"]["properties"]
    assert site["keyVaultReferenceIdentity"] == "${azurerm_user_assigned_identity.app.id}"


def test_identity_may_read_the_api_keys_secret_only() -> None:
    optional = _local("optional_role_assignments")
    assert 'role = "Key Vault Secrets User"' in optional
    assert "${var.api_keys.key_vault_id}/secrets/${var.api_keys.secret_name}" in optional
    assert "Key Vault Secrets Officer" not in _code_text()
    assert "Key Vault Administrator" not in _code_text()
