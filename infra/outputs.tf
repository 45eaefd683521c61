# Values needed to publish the code, wire other tools, and check the deployment.

output "resource_group_name" {
  description = "Resource group holding autocanary's resources."
  value       = azurerm_resource_group.this.name
}

output "function_app_name" {
  description = "Function app to publish the code to: func azure functionapp publish <this>."
  value       = azapi_resource.function_app.name
}

output "function_app_id" {
  description = "Resource id of the function app."
  value       = azapi_resource.function_app.id
}

output "function_app_hostname" {
  description = "Default host name of the function app (the HTTP API is https://<this>/api/...)."
  value       = azapi_resource.function_app.output.properties.defaultHostName
}

output "identity_client_id" {
  description = "Client id of the app's user-assigned identity (AZURE_CLIENT_ID)."
  value       = azurerm_user_assigned_identity.app.client_id
}

output "identity_principal_id" {
  description = "Principal (object) id of the app's user-assigned identity, holder of every role assignment."
  value       = azurerm_user_assigned_identity.app.principal_id
}

output "storage_account_name" {
  description = "Storage account of the Functions host, the deployment packages and the rollout table."
  value       = azurerm_storage_account.this.name
}

output "table_endpoint" {
  description = "AUTOCANARY_TABLE_ENDPOINT given to the app."
  value       = local.table_endpoint
}

output "metrics_endpoint" {
  description = "AUTOCANARY_METRICS_ENDPOINT given to the app (the workspace's region)."
  value       = local.metrics_endpoint
}

output "system_topic_name" {
  description = "Event Grid system topic of the workspace."
  value       = local.system_topic_name
}

output "lifecycle_topic_endpoint" {
  description = "AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT, or null when lifecycle_topic_enabled is false."
  value       = var.lifecycle_topic_enabled ? azurerm_eventgrid_topic.lifecycle[0].endpoint : null
}

output "action_group_id" {
  description = "Action group calling /api/alerts (null until functions_deployed is true); attach it to other alert rules as needed."
  value       = var.functions_deployed ? azapi_resource.action_group[0].id : null
}

output "endpoint_operator_role_id" {
  description = "Resource id of the custom role (Azure ML online endpoint actions only) held by the app's identity on the workspace."
  value       = azurerm_role_definition.endpoint_operator.role_definition_resource_id
}

output "dead_letter_container" {
  description = "Blob container receiving ModelRegistered events Event Grid could not deliver."
  value       = azurerm_storage_container.dead_letter.name
}

output "app_settings_names" {
  description = "Names of the app settings set on the function app (values are not shown)."
  value       = sort(keys(local.app_settings))
}
