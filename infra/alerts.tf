# Azure Monitor: an action group that POSTs fired alerts (common alert schema) to the app's
# /api/alerts route, and metric alert rules on each guarded online endpoint.

locals {
  online_endpoint_namespace = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
  alerts_url_base           = "https://${azapi_resource.function_app.output.properties.defaultHostName}/api/alerts"
  guarded_endpoints         = var.functions_deployed ? var.endpoints : {}
}

# The default host key authorises every FUNCTION-level route, /api/alerts included. It is
# read from Azure at apply time, never written in this configuration (it does land in the
# state: keep the state in an access-controlled backend).
# website/docs/d/function_app_host_keys.html.markdown (name, resource_group_name ->
# default_function_key).
data "azurerm_function_app_host_keys" "this" {
  count = var.functions_deployed ? 1 : 0

  name                = azapi_resource.function_app.name
  resource_group_name = azurerm_resource_group.this.name

  depends_on = [azapi_resource.app_settings]
}

# website/docs/r/monitor_action_group.html.markdown: short_name,
# webhook_receiver (name, service_uri, use_common_alert_schema). The app parses only the
# common alert schema, so use_common_alert_schema must stay true.
resource "azurerm_monitor_action_group" "alerts" {
  count = var.functions_deployed ? 1 : 0

  name                = "${var.name_prefix}-alerts"
  resource_group_name = azurerm_resource_group.this.name
  short_name          = "autocanary"
  tags                = local.tags

  webhook_receiver {
    name                    = "autocanary-on-alert"
    service_uri             = "${local.alerts_url_base}?code=${data.azurerm_function_app_host_keys.this[0].default_function_key}"
    use_common_alert_schema = true
  }
}

# Metric alerts on the online endpoint resource `${workspace_id}/onlineEndpoints/${name}`.
# website/docs/r/monitor_metric_alert.html.markdown (scopes, criteria{metric_namespace,
# metric_name, aggregation, operator, threshold, dimension{name, operator, values}},
# frequency, window_size, severity, auto_mitigate, action{action_group_id}). Metric names,
# dimensions and aggregations: learn.microsoft.com/azure/azure-monitor/reference/
# supported-metrics/microsoft-machinelearningservices-workspaces-onlineendpoints-metrics
# (RequestLatency_P99 in ms, Average; RequestsPerMinute, Total, split by statusCodeClass).
resource "azurerm_monitor_metric_alert" "latency_p99" {
  for_each = local.guarded_endpoints

  name                = "${var.name_prefix}-${each.key}-latency-p99"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = ["${data.azurerm_machine_learning_workspace.this.id}/onlineEndpoints/${each.key}"]
  description         = "P99 request latency of online endpoint ${each.key} above ${each.value.latency_p99_threshold_ms} ms: autocanary rolls back its active rollout."
  severity            = each.value.severity
  frequency           = "PT1M"
  window_size         = var.alert_window_size
  auto_mitigate       = true
  tags                = local.tags

  criteria {
    metric_namespace = local.online_endpoint_namespace
    metric_name      = "RequestLatency_P99"
    aggregation      = "Average"
    operator         = "GreaterThan"
    threshold        = each.value.latency_p99_threshold_ms
  }

  action {
    action_group_id = azurerm_monitor_action_group.alerts[0].id
  }

  dynamic "action" {
    for_each = var.additional_action_group_ids
    content {
      action_group_id = action.value
    }
  }
}

# Same doc as above; the 5xx class is the `statusCodeClass` dimension of RequestsPerMinute.
resource "azurerm_monitor_metric_alert" "errors_5xx" {
  for_each = local.guarded_endpoints

  name                = "${var.name_prefix}-${each.key}-errors-5xx"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = ["${data.azurerm_machine_learning_workspace.this.id}/onlineEndpoints/${each.key}"]
  description         = "More than ${each.value.errors_5xx_threshold} 5xx responses from online endpoint ${each.key} in ${var.alert_window_size}: autocanary rolls back its active rollout."
  severity            = each.value.severity
  frequency           = "PT1M"
  window_size         = var.alert_window_size
  auto_mitigate       = true
  tags                = local.tags

  criteria {
    metric_namespace = local.online_endpoint_namespace
    metric_name      = "RequestsPerMinute"
    aggregation      = "Total"
    operator         = "GreaterThan"
    threshold        = each.value.errors_5xx_threshold

    dimension {
      name     = "statusCodeClass"
      operator = "Include"
      values   = ["5xx"]
    }
  }

  action {
    action_group_id = azurerm_monitor_action_group.alerts[0].id
  }

  dynamic "action" {
    for_each = var.additional_action_group_ids
    content {
      action_group_id = action.value
    }
  }
}
