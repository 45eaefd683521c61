# Azure Monitor: an action group that POSTs fired alerts (common alert schema) to the app's
# /api/alerts route with a key that opens that function alone, and metric alert rules on each
# guarded online endpoint, split by deployment so that the alert names the deployment that
# fired (alertContext.condition.allOf[].dimensions).

locals {
  online_endpoint_namespace = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
  alerts_url_base           = "https://${azapi_resource.function_app.output.properties.defaultHostName}/api/alerts"
  guarded_endpoints         = var.functions_deployed ? var.endpoints : {}

  # The function key the action group calls /api/alerts with. A FUNCTION key of on_alert
  # opens that function only; a host key would open every FUNCTION-level function.
  alert_function_name = "on_alert"
  webhook_code_name   = "alert-webhook"
  alert_function_id   = "${azapi_resource.function_app.id}/functions/${local.alert_function_name}"

  # One time series per deployment (`*` = every value of the dimension, each evaluated on
  # its own): learn.microsoft.com/azure/azure-monitor/alerts/alerts-types#monitor-multiple-
  # time-series (dimension splitting); `deployment` is a dimension of every metric used here
  # (supported-metrics/microsoft-machinelearningservices-workspaces-onlineendpoints-metrics).
  split_by_deployment = var.alert_split_by_deployment ? [{ name = "deployment", operator = "Include", values = ["*"] }] : []
}

# A function key for on_alert, created by Azure (no value is sent, so Azure generates one:
# `az functionapp function keys set` sends KeyInfo without a value, Azure/azure-cli
# src/azure-cli/azure/cli/command_modules/appservice/custom.py update_function_key; REST
# WebApps_CreateOrUpdateFunctionSecret, PUT .../sites/{name}/functions/{function}/keys/
# {keyName}). No response value is exported, so the key is not written to the state.
# Azure/terraform-provider-azapi docs/resources/resource_action.md (type, resource_id, method,
# body; `action` left empty sends the request to resource_id itself).
resource "azapi_resource_action" "alert_function_key" {
  count = var.functions_deployed ? 1 : 0

  type        = "Microsoft.Web/sites/functions/keys@2024-04-01"
  resource_id = "${local.alert_function_id}/keys/${local.webhook_code_name}"
  method      = "PUT"
  body = {
    properties = {
      name = local.webhook_code_name
    }
  }

  depends_on = [azapi_resource.app_settings]
}

# Read the key back at plan/apply time without storing it: an ephemeral resource is never
# written to the state (docs/ephemeral-resources/resource_action.md). Needs Terraform >= 1.10.
# The answer's shape: the spec's WebApps_ListFunctionKeys is a StringDictionary, {id, name,
# kind, properties: {keyName: value}} (as azure-native's ListWebAppFunctionKeysResult reads
# it), but callers of the raw API read the keys at the top level (Azure/azure-functions-core-
# tools PR 1648 reads keysJson["default"]), and the spec is known to be wrong for these key
# APIs (azure-rest-api-specs issue 29701): the whole answer is exported and both are tried.
# When it is opened: Terraform opens an ephemeral resource at plan time as soon as its
# configuration is known, whatever depends_on says (hashicorp/terraform issue 37270;
# internal/terraform/node_resource_ephemeral.go ephemeralResourceOpen). On the apply that first
# creates the key the function app already exists, so the listing would run before the key
# does and the plan would fail. The conditional below is unknown while the key action's id is
# (until it is created), which puts the listing off until apply; afterwards it is the
# function's id.
ephemeral "azapi_resource_action" "alert_function_keys" {
  count = var.functions_deployed ? 1 : 0

  type                   = "Microsoft.Web/sites/functions@2024-04-01"
  resource_id            = azapi_resource_action.alert_function_key[0].id == null ? local.alert_function_id : local.alert_function_id
  action                 = "listkeys"
  method                 = "POST"
  response_export_values = ["*"]

  depends_on = [azapi_resource_action.alert_function_key]
}

locals {
  # the key, wherever the listkeys answer holds it (see the ephemeral resource above)
  alert_function_keys_answer = var.functions_deployed ? ephemeral.azapi_resource_action.alert_function_keys[0].output : {}
  # Guarded too: Terraform evaluates every local on every plan, even one only a count = 0
  # resource reads, and try() with no expression that succeeds is an error (functions/try),
  # so an unguarded try() on the empty answer failed the first plan (functions_deployed =
  # false). No fallback inside try(): a missing key must fail the plan, not send "?code=".
  alert_function_key = var.functions_deployed ? try(local.alert_function_keys_answer.properties[local.webhook_code_name], local.alert_function_keys_answer[local.webhook_code_name]) : null
}

# The action group as Microsoft.Insights/actionGroups (azapi) rather than
# azurerm_monitor_action_group: the webhook URL carries the key, and azapi's `sensitive_body`
# is a write-only argument (docs/resources/resource.md: merged into the request body, never
# stored in the state; Terraform >= 1.11), whereas azurerm's `webhook_receiver.service_uri`
# is stored in the state. Body: docs/resources/Microsoft.Insights_actionGroups.md
# (location `global`, properties.groupShortName, enabled, webhookReceivers[{name, serviceUri,
# useCommonAlertSchema, useAadAuth}]). The app parses only the common alert schema.
resource "azapi_resource" "action_group" {
  count = var.functions_deployed ? 1 : 0

  type      = "Microsoft.Insights/actionGroups@2023-01-01"
  name      = "${var.name_prefix}-alerts"
  parent_id = azurerm_resource_group.this.id
  location  = "global"
  tags      = local.tags

  body = {
    properties = {
      groupShortName = "autocanary"
      enabled        = true
    }
  }

  # Without sensitive_body_version the provider sends this on every create/update and plans an
  # update when it changes (it keeps only a hash of it in private state), so a rotated key
  # reaches the webhook on the next apply.
  sensitive_body = {
    properties = {
      webhookReceivers = [
        {
          name                 = "autocanary-on-alert"
          serviceUri           = "${local.alerts_url_base}?code=${local.alert_function_key}"
          useCommonAlertSchema = true
          useAadAuth           = false
        },
      ]
    }
  }
}

locals {
  action_group_ids = concat(azapi_resource.action_group[*].id, var.additional_action_group_ids)

  # Metric alerts on `${workspace_id}/onlineEndpoints/${name}`. Metric names, units,
  # aggregations and dimensions: MicrosoftDocs/azure-monitor-docs articles/azure-monitor/
  # reference/supported-metrics/microsoft-machinelearningservices-workspaces-onlineendpoints-
  # metrics.md (RequestLatency_P99: Milliseconds, Average, dimension `deployment`;
  # RequestsPerMinute: Count, aggregation Average only, dimensions `deployment`, `statusCode`,
  # `statusCodeClass`, `modelStatusCode`). RequestsPerMinute is therefore alerted on its
  # Average: the mean number of matching requests per minute over the window.
  # A failing scoring script is answered 424 (class 4xx) with the script's status in
  # `modelStatusCode` (learn.microsoft.com/azure/machine-learning/how-to-troubleshoot-online-
  # endpoints, "HTTP status codes"), so the 5xx rule never sees it: `model-errors` watches 424.
  # Every guarded endpoint gets each of these rules; `threshold` names the field of
  # var.endpoints that holds the rule's threshold.
  alert_rules = {
    "latency-p99" = {
      metric    = "RequestLatency_P99"
      threshold = "latency_p99_threshold_ms"
      filters   = []
      what      = "P99 request latency (ms)"
    }
    "errors-5xx" = {
      metric    = "RequestsPerMinute"
      threshold = "errors_5xx_per_minute"
      filters   = [{ name = "statusCodeClass", operator = "Include", values = ["5xx"] }]
      what      = "5xx responses per minute"
    }
    "model-errors" = {
      metric    = "RequestsPerMinute"
      threshold = "model_errors_per_minute"
      filters   = [{ name = "statusCode", operator = "Include", values = ["424"] }]
      what      = "model errors (424, scoring script failed) per minute"
    }
  }

  metric_alerts = {
    for pair in setproduct(keys(local.guarded_endpoints), keys(local.alert_rules)) :
    "${pair[0]}-${pair[1]}" => {
      endpoint  = pair[0]
      rule      = local.alert_rules[pair[1]]
      severity  = local.guarded_endpoints[pair[0]].severity
      threshold = lookup(local.guarded_endpoints[pair[0]], local.alert_rules[pair[1]].threshold)
    }
  }
}

# website/docs/r/monitor_metric_alert.html.markdown (scopes, criteria{metric_namespace,
# metric_name, aggregation, operator, threshold, dimension{name, operator, values}},
# frequency, window_size, severity, auto_mitigate, action{action_group_id}).
resource "azurerm_monitor_metric_alert" "endpoint" {
  for_each = local.metric_alerts

  name                = "${var.name_prefix}-${each.key}"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = ["${data.azurerm_machine_learning_workspace.this.id}/onlineEndpoints/${each.value.endpoint}"]
  description         = "${each.value.rule.what} of a deployment of online endpoint ${each.value.endpoint} above ${each.value.threshold}: autocanary rolls back the endpoint's rollout when the deployment is its canary."
  severity            = each.value.severity
  frequency           = "PT1M"
  window_size         = var.alert_window_size
  auto_mitigate       = true
  tags                = local.tags

  criteria {
    metric_namespace = local.online_endpoint_namespace
    metric_name      = each.value.rule.metric
    aggregation      = "Average"
    operator         = "GreaterThan"
    threshold        = each.value.threshold

    dynamic "dimension" {
      for_each = concat(each.value.rule.filters, local.split_by_deployment)
      content {
        name     = dimension.value.name
        operator = dimension.value.operator
        values   = dimension.value.values
      }
    }
  }

  dynamic "action" {
    for_each = local.action_group_ids
    content {
      action_group_id = action.value
    }
  }
}
