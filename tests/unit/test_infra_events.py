"""infra/ for events and alerts: the Event Grid subscription delivering ModelRegistered to the
app (retries, dead letters), the lifecycle topic, and the metric alerts calling the app's alert
route with the common alert schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.infra_config import (
    ENDPOINT_NAMESPACE,
    MODEL_REGISTERED,
    code_text,
    config,
    local,
    model_registered_subscription,
    resolve,
    resource,
)

# ------------------------------------------------------------------------------ Event Grid


def test_system_topic_is_on_the_workspace() -> None:
    topic = resource("azurerm_eventgrid_system_topic", "workspace")
    assert topic["topic_type"] == "Microsoft.MachineLearningServices.Workspaces"
    assert topic["source_resource_id"] == "${data.azurerm_machine_learning_workspace.this.id}"


def test_event_subscription_delivers_model_registered_to_on_model_registered() -> None:
    subscription = model_registered_subscription()
    (endpoint,) = subscription["azure_function_endpoint"]
    assert endpoint["function_id"] == (
        "${azapi_resource.function_app.id}/functions/on_model_registered"
    )
    assert [resolve(t) for t in subscription["included_event_types"]] == [MODEL_REGISTERED]


def test_event_subscription_retries_delivery() -> None:
    subscription = model_registered_subscription()
    (retry,) = subscription["retry_policy"]
    assert retry == {
        "max_delivery_attempts": "${var.event_max_delivery_attempts}",
        "event_time_to_live": "${var.event_ttl_minutes}",
    }


def test_event_subscription_subject_prefix_filter_is_optional() -> None:
    subscription = model_registered_subscription()
    (dynamic,) = subscription["dynamic"]
    subject_filter = dynamic["subject_filter"]
    assert "var.model_subject_prefix ==" in subject_filter["for_each"]
    assert subject_filter["content"][0]["subject_begins_with"] == "${subject_filter.value}"


def test_lifecycle_topic_takes_cloudevents_with_entra_id_only() -> None:
    topic = resource("azurerm_eventgrid_topic", "lifecycle")
    assert topic["count"] == "${var.lifecycle_topic_enabled ? 1 : 0}"
    assert topic["input_schema"] == "CloudEventSchemaV1_0"
    assert topic["local_auth_enabled"] is False


def test_what_needs_the_published_code_waits_for_functions_deployed() -> None:
    """Event Grid validates the function; function keys exist only once the host runs."""
    gated = [
        model_registered_subscription(),
        resource("azapi_resource", "action_group"),
        resource("azapi_resource_action", "alert_function_key"),
        config()["ephemeral"][("azapi_resource_action", "alert_function_keys")],
    ]
    for body in gated:
        assert body["count"] == "${var.functions_deployed ? 1 : 0}"
    assert local("guarded_endpoints") == "${var.functions_deployed ? var.endpoints : {}}"


def test_event_subscription_dead_letters_undelivered_events_with_an_identity() -> None:
    subscription = model_registered_subscription()
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
    (topic_identity,) = resource("azurerm_eventgrid_system_topic", "workspace")["identity"]
    assert topic_identity["identity_ids"] == ["${azurerm_user_assigned_identity.events.id}"]


def test_event_grid_identity_may_write_only_the_dead_letter_container() -> None:
    assignment = resource("azurerm_role_assignment", "events_dead_letter")
    assert assignment["scope"] == "${azurerm_storage_container.dead_letter.id}"
    assert assignment["role_definition_name"] == "Storage Blob Data Contributor"
    assert assignment["principal_id"] == "${azurerm_user_assigned_identity.events.principal_id}"
    assert "azurerm_role_assignment.events_dead_letter" in str(
        model_registered_subscription()["depends_on"]
    )


# ---------------------------------------------------------------------------------- alerts


def test_action_group_calls_the_alerts_route_with_the_common_alert_schema() -> None:
    group = resource("azapi_resource", "action_group")
    assert group["type"].startswith("Microsoft.Insights/actionGroups@")
    assert group["location"] == "global"
    (receiver,) = group["sensitive_body"]["properties"]["webhookReceivers"]
    assert receiver["useCommonAlertSchema"] is True
    assert receiver["serviceUri"].startswith("${local.alerts_url_base}?code=")
    assert local("alerts_url_base").startswith("https://")
    assert local("alerts_url_base").endswith("/api/alerts")


def test_alert_webhook_uses_a_function_key_of_on_alert_not_a_host_key() -> None:
    """A host key would also open promote and abort: the key belongs to on_alert alone."""
    assert local("alert_function_name") == "on_alert"
    function_id = "${azapi_resource.function_app.id}/functions/${local.alert_function_name}"
    assert local("alert_function_id") == function_id
    key = resource("azapi_resource_action", "alert_function_key")
    assert key["type"].startswith("Microsoft.Web/sites/functions/keys@")
    assert key["method"] == "PUT"
    assert key["resource_id"] == "${local.alert_function_id}/keys/${local.webhook_code_name}"
    assert "value" not in key["body"]["properties"], "Azure generates the key"
    keys = config()["ephemeral"][("azapi_resource_action", "alert_function_keys")]
    # opened only once the key exists: unknown while the key action's id is (see alerts.tf)
    assert keys["resource_id"] == (
        "${azapi_resource_action.alert_function_key[0].id == null ? local.alert_function_id"
        " : local.alert_function_id}"
    )
    assert keys["action"] == "listkeys" and keys["response_export_values"] == ["*"]
    (receiver,) = resource("azapi_resource", "action_group")["sensitive_body"]["properties"][
        "webhookReceivers"
    ]
    assert receiver["serviceUri"].endswith("?code=${local.alert_function_key}")
    # the key under properties (the spec) or at the top level (what raw callers read); only
    # once the functions are deployed (see test_first_plan_...)
    assert local("alert_function_key") == (
        "${var.functions_deployed ? try(local.alert_function_keys_answer.properties["
        "local.webhook_code_name], local.alert_function_keys_answer[local.webhook_code_name])"
        " : null}"
    )
    assert "azurerm_function_app_host_keys" not in code_text()


def test_no_function_key_reaches_the_terraform_state() -> None:
    """The key is created without exporting the response, read by an ephemeral resource, and
    passed only in a write-only argument (sensitive_body)."""
    key = resource("azapi_resource_action", "alert_function_key")
    assert "response_export_values" not in key
    group = resource("azapi_resource", "action_group")
    assert "webhookReceivers" not in str(group["body"])
    assert "sensitive_body_version" not in group, "without it a rotated key is sent on apply"
    for (type_, name), body in config()["resource"].items():
        if (type_, name) != ("azapi_resource", "action_group"):
            assert "ephemeral." not in str(body), f"{type_}.{name} stores an ephemeral value"


def test_metric_alerts_cover_latency_5xx_and_model_errors_on_each_endpoint() -> None:
    rules = local("alert_rules")
    assert set(rules) == {"latency-p99", "errors-5xx", "model-errors"}
    assert rules["latency-p99"]["metric"] == "RequestLatency_P99"
    assert rules["latency-p99"]["filters"] == []
    assert rules["errors-5xx"]["metric"] == "RequestsPerMinute"
    assert rules["errors-5xx"]["filters"] == [
        {"name": "statusCodeClass", "operator": "Include", "values": ["5xx"]}
    ]
    variables = config()["variable"]["endpoints"]["type"]
    for rule in rules.values():
        assert rule["threshold"] in variables, rule["threshold"]
    assert "setproduct(keys(local.guarded_endpoints), keys(local.alert_rules))" in local(
        "metric_alerts"
    )


def test_model_error_alert_counts_424_responses() -> None:
    """A failing scoring script is answered 424 (a 4xx), which the 5xx rule never counts."""
    rule = local("alert_rules")["model-errors"]
    assert rule["metric"] == "RequestsPerMinute"
    assert rule["filters"] == [{"name": "statusCode", "operator": "Include", "values": ["424"]}]


def test_metric_alerts_are_split_by_deployment_by_default() -> None:
    split = local("split_by_deployment")
    assert split.startswith("${var.alert_split_by_deployment ?")
    assert '[{name = "deployment", operator = "Include", values = ["*"]}]' in split
    assert config()["variable"]["alert_split_by_deployment"]["default"] is True
    (criteria,) = resource("azurerm_monitor_metric_alert", "endpoint")["criteria"]
    (dynamic,) = criteria["dynamic"]
    assert dynamic["dimension"]["for_each"] == (
        "${concat(each.value.rule.filters, local.split_by_deployment)}"
    )


def test_metric_alert_watches_the_online_endpoint_and_notifies_the_app() -> None:
    alert = resource("azurerm_monitor_metric_alert", "endpoint")
    assert alert["for_each"] == "${local.metric_alerts}"
    assert alert["scopes"] == [
        "${data.azurerm_machine_learning_workspace.this.id}/onlineEndpoints/${each.value.endpoint}"
    ]
    (criteria,) = alert["criteria"]
    assert resolve(criteria["metric_namespace"]) == ENDPOINT_NAMESPACE
    assert criteria["metric_name"] == "${each.value.rule.metric}"
    assert criteria["operator"] == "GreaterThan"
    assert criteria["threshold"] == "${each.value.threshold}"
    (action,) = alert["dynamic"]
    assert action["action"]["for_each"] == "${local.action_group_ids}"
    assert local("action_group_ids") == (
        "${concat(azapi_resource.action_group[*].id, var.additional_action_group_ids)}"
    )


def test_requests_per_minute_is_aggregated_by_average() -> None:
    """The metric reference lists only Average for RequestsPerMinute (nor Total, nor Count)."""
    (criteria,) = resource("azurerm_monitor_metric_alert", "endpoint")["criteria"]
    assert criteria["aggregation"] == "Average"


# The webhook key's locals as Terraform itself evaluates them: every local is evaluated on
# every plan, even one that only a count = 0 resource reads, so a local that errors on the
# first step's values fails the whole plan. The locals are copied from infra/ as parsed, the
# listkeys ephemeral replaced by a built-in terraform_data holding the answer's documented
# shape (no provider, nothing leaves this machine).
KEY_LOCALS = ("webhook_code_name", "alert_function_keys_answer", "alert_function_key")
LISTKEYS = "ephemeral.azapi_resource_action.alert_function_keys[0].output"


def _key_harness(root: Path) -> None:
    body = []
    for name in KEY_LOCALS:
        value = local(name)
        expression = value[2:-1] if value.startswith("${") else json.dumps(value)
        body.append(f"  {name} = {expression.replace(LISTKEYS, 'terraform_data.keys[0].output')}")
    assert all(LISTKEYS not in line for line in body)
    locals_block = "\n".join(body)
    (root / "main.tf").write_text(
        f"""variable "functions_deployed" {{
  type = bool
}}
resource "terraform_data" "keys" {{
  count = var.functions_deployed ? 1 : 0
  input = {{ properties = {{ "alert-webhook" = "the-key" }} }}
}}
locals {{
{locals_block}
}}
resource "terraform_data" "action_group" {{
  count = var.functions_deployed ? 1 : 0
  input = "https://app.example/api/alerts?code=${{local.alert_function_key}}"
}}
output "service_uri" {{
  value = terraform_data.action_group[*].input
}}
""",
        encoding="utf-8",
    )


def _terraform(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    terraform = shutil.which("terraform")
    assert terraform, "terraform is missing: install Terraform >= 1.11 (infra/README.md)"
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": os.devnull}
    return subprocess.run(
        [terraform, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("functions_deployed", [False, True])
def test_first_plan_and_the_deployed_plan_both_evaluate_the_webhook_key(
    tmp_path: Path, functions_deployed: bool
) -> None:
    """Step 1 (functions_deployed = false, no key yet) must plan: an unguarded try() over the
    empty answer failed it ("no expression succeeded"); step 2 puts the key in the URL."""
    _key_harness(tmp_path)
    flag = f"functions_deployed={str(functions_deployed).lower()}"
    steps = (
        ("init", "-input=false", "-no-color"),
        ("plan", "-input=false", "-no-color", "-out=plan", "-var", flag),
        # the key is known once listkeys answered (apply); terraform_data keeps it all local
        ("apply", "-input=false", "-no-color", "plan"),
        ("output", "-json"),
    )
    for step in steps:
        done = _terraform(tmp_path, *step)
        assert done.returncode == 0, f"terraform {step[0]}: {done.stdout}{done.stderr}"
    expected = ["https://app.example/api/alerts?code=the-key"] if functions_deployed else []
    assert json.loads(done.stdout)["service_uri"]["value"] == expected
