# autocanary next to an existing Azure ML workspace: resource group, user-assigned identity,
# identity-only storage, monitoring, the Flex Consumption plan and the function app.

locals {
  # A short, stable suffix for the globally unique names (storage account, function app).
  suffix   = substr(sha1("${var.subscription_id}/${var.resource_group_name}"), 0, 6)
  location = coalesce(var.location, data.azurerm_machine_learning_workspace.this.location)

  storage_account_name = coalesce(var.storage_account_name, substr("${replace(var.name_prefix, "-", "")}st${local.suffix}", 0, 24))
  function_app_name    = "${var.name_prefix}-func-${local.suffix}"

  # Regional Azure Monitor metrics endpoint of the WORKSPACE's region (the metrics batch API
  # answers only for resources of its own region): https://<region>.metrics.monitor.azure.com.
  metrics_endpoint = "https://${data.azurerm_machine_learning_workspace.this.location}.metrics.monitor.azure.com"
  table_endpoint   = trimsuffix(azurerm_storage_account.this.primary_table_endpoint, "/")

  tags = merge({ application = "autocanary" }, var.tags)
}

# Data source: website/docs/d/machine_learning_workspace.html.markdown (name,
# resource_group_name -> id, location).
data "azurerm_machine_learning_workspace" "this" {
  name                = var.workspace_name
  resource_group_name = var.workspace_resource_group_name
}

# website/docs/r/resource_group.html.markdown (name, location, tags).
resource "azurerm_resource_group" "this" {
  name     = var.resource_group_name
  location = local.location
  tags     = local.tags
}

# website/docs/r/user_assigned_identity.html.markdown (exports id, principal_id, client_id).
# The app runs as this identity: AZURE_CLIENT_ID and AzureWebJobsStorage__clientId name it.
resource "azurerm_user_assigned_identity" "app" {
  name                = "${var.name_prefix}-id"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

# Host storage, deployment packages and the rollout table, reached only with Entra ID:
# website/docs/r/storage_account.html.markdown (shared_access_key_enabled,
# default_to_oauth_authentication, min_tls_version, allow_nested_items_to_be_public,
# https_traffic_only_enabled, local_user_enabled, blob_properties; exports
# primary_blob_endpoint, primary_table_endpoint).
resource "azurerm_storage_account" "this" {
  #checkov:skip=CKV_AZURE_59:No private networking in this configuration (README "What it does not do"): the Flex Consumption host, Event Grid and the app reach the account over its public endpoint, which refuses shared keys and anonymous access; network isolation belongs to the environment's network modules.
  #checkov:skip=CKV2_AZURE_33:Same reason as CKV_AZURE_59: private endpoints need the VNet integration this configuration leaves to the environment.
  #checkov:skip=CKV2_AZURE_1:The account holds host state, deployment packages, dead letters and rollout records, no customer data; Microsoft-managed keys are used (a customer-managed key needs a Key Vault and key rotation outside this module).
  #checkov:skip=CKV_AZURE_33:No queue is used (the identity has no queue role); azurerm 5.0 moved queue logging out of this resource (queue_properties removed), so the check cannot be satisfied here.
  name                            = local.storage_account_name
  resource_group_name             = azurerm_resource_group.this.name
  location                        = azurerm_resource_group.this.location
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = var.storage_replication_type
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  local_user_enabled              = false
  tags                            = local.tags

  # Soft delete of blobs and containers (deployment packages, dead letters).
  blob_properties {
    delete_retention_policy {
      days = var.blob_soft_delete_days
    }
    container_delete_retention_policy {
      days = var.blob_soft_delete_days
    }
  }
}

# Flex Consumption deployment packages live in a blob container. With `storage_account_id`
# the container is created through Resource Manager, so no shared key is needed
# (website/docs/r/function_app_flex_consumption.html.markdown example;
# website/docs/r/storage_container.html.markdown).
resource "azurerm_storage_container" "deployments" {
  #checkov:skip=CKV2_AZURE_21:The check asks for azurerm_log_analytics_storage_insights, which reads the account with its access key (shared keys are disabled here); blob reads, writes and deletes are logged by azurerm_monitor_diagnostic_setting.blob instead.
  name                  = "app-package"
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

# Event Grid's identity: the system topic writes undelivered ModelRegistered events to the
# dead-letter container with it (Storage Blob Data Contributor on that container only).
# website/docs/r/user_assigned_identity.html.markdown.
resource "azurerm_user_assigned_identity" "events" {
  name                = "${var.name_prefix}-events-id"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

# Dead letters of the ModelRegistered subscription (events.tf); created through Resource
# Manager like the container above.
resource "azurerm_storage_container" "dead_letter" {
  #checkov:skip=CKV2_AZURE_21:The check asks for azurerm_log_analytics_storage_insights, which reads the account with its access key (shared keys are disabled here); blob reads, writes and deletes are logged by azurerm_monitor_diagnostic_setting.blob instead.
  name                  = var.dead_letter_container_name
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

# website/docs/r/log_analytics_workspace.html.markdown (sku, retention_in_days).
resource "azurerm_log_analytics_workspace" "this" {
  name                = "${var.name_prefix}-logs"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

# Workspace-based Application Insights that accepts Entra ID telemetry only
# (website/docs/r/application_insights.html.markdown: workspace_id,
# local_authentication_enabled -- azurerm 5.0 removed local_authentication_disabled;
# exports connection_string). The app authenticates with
# APPLICATIONINSIGHTS_AUTHENTICATION_STRING and the Monitoring Metrics Publisher role.
resource "azurerm_application_insights" "this" {
  name                         = "${var.name_prefix}-appi"
  resource_group_name          = azurerm_resource_group.this.name
  location                     = azurerm_resource_group.this.location
  application_type             = "other"
  workspace_id                 = azurerm_log_analytics_workspace.this.id
  local_authentication_enabled = false
  tags                         = local.tags
}

# Blob read/write/delete logs of the account (deployment packages, dead letters) to the Log
# Analytics workspace: website/docs/r/monitor_diagnostic_setting.html.markdown
# (target_resource_id `<account id>/blobServices/default`, enabled_log{category});
# categories StorageRead, StorageWrite, StorageDelete (learn.microsoft.com/azure/
# azure-monitor/reference/supported-logs/microsoft-storage-storageaccounts-blobservices-logs).
resource "azurerm_monitor_diagnostic_setting" "blob" {
  name                       = "${var.name_prefix}-blob-logs"
  target_resource_id         = "${azurerm_storage_account.this.id}/blobServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id

  enabled_log {
    category = "StorageRead"
  }
  enabled_log {
    category = "StorageWrite"
  }
  enabled_log {
    category = "StorageDelete"
  }
}

# Flex Consumption plan: website/docs/r/service_plan.html.markdown (`FC1`, os_type `Linux`).
resource "azurerm_service_plan" "this" {
  #checkov:skip=CKV_AZURE_225:A Flex Consumption (FC1) plan has no workers to spread: zone_balancing_enabled and worker_count apply to dedicated and Premium plans; Flex Consumption instances are allocated by the platform per app.
  #checkov:skip=CKV_AZURE_212:Same reason as CKV_AZURE_225: FC1 has no minimum worker count (the app's scale is functionAppConfig.scaleAndConcurrency).
  name                = "${var.name_prefix}-plan"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = local.tags
}

# The function app, as the Microsoft.Web/sites resource itself (azapi), not
# azurerm_function_app_flex_consumption: with an identity `storage_authentication_type` that
# resource still writes an `AzureWebJobsStorage` connection string with an empty AccountKey,
# which the Functions host then tries to use (hashicorp/terraform-provider-azurerm issues
# #29693 and #30732, open; fix proposed in PR #29099). Here the app settings are exactly the
# ones below. Body shape: Azure/azure-quickstart-templates
# quickstarts/microsoft.web/function-app-flex-managed-identities/main.bicep
# (Microsoft.Web/sites@2024-04-01, kind functionapp,linux, properties.functionAppConfig
# {deployment.storage{type blobContainer, value, authentication{type UserAssignedIdentity,
# userAssignedIdentityResourceId}}, scaleAndConcurrency{maximumInstanceCount,
# instanceMemoryMB}, runtime{name, version}}); azapi_resource arguments:
# Azure/terraform-provider-azapi docs/resources/resource.md.
resource "azapi_resource" "function_app" {
  type      = "Microsoft.Web/sites@2024-04-01"
  name      = local.function_app_name
  parent_id = azurerm_resource_group.this.id
  location  = azurerm_resource_group.this.location
  tags      = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  body = {
    kind = "functionapp,linux"
    properties = {
      serverFarmId = azurerm_service_plan.this.id
      httpsOnly    = true
      # Key Vault references (the chat webhook settings) are resolved as this identity.
      # Key Vault references (AUTOCANARY_API_KEYS) resolve with the user-assigned identity:
      # SiteProperties.keyVaultReferenceIdentity, "Identity to use for Key Vault Reference
      # authentication" (Azure/bicep-types-az generated/web/microsoft.web types.md); the
      # platform uses the system identity unless this names another one (Microsoft Learn,
      # app-service-key-vault-references, "Access vaults with a user-assigned identity").
      keyVaultReferenceIdentity = azurerm_user_assigned_identity.app.id
      siteConfig = {
        minTlsVersion = "1.2"
        ftpsState     = "Disabled"
      }
      functionAppConfig = {
        deployment = {
          storage = {
            type  = "blobContainer"
            value = "${azurerm_storage_account.this.primary_blob_endpoint}${azurerm_storage_container.deployments.name}"
            authentication = {
              type                           = "UserAssignedIdentity"
              userAssignedIdentityResourceId = azurerm_user_assigned_identity.app.id
            }
          }
        }
        scaleAndConcurrency = {
          maximumInstanceCount = var.maximum_instance_count
          instanceMemoryMB     = var.instance_memory_mb
        }
        runtime = {
          name    = "python"
          version = "3.11"
        }
      }
    }
  }

  response_export_values = ["properties.defaultHostName"]

  # The host reads its deployment package and storage with the identity's roles.
  depends_on = [azurerm_role_assignment.app, azurerm_role_assignment.app_endpoint_operator]
}

locals {
  # Every app setting the app reads (shared/settings.py SETTINGS; README "Configuration").
  # AzureWebJobsStorage is the identity-based form (__accountName/__credential/__clientId):
  # Microsoft Learn, azure-functions "Connecting to host storage with an identity"; the same
  # three settings in the flex-managed-identities quickstart above. No secret appears here:
  # the rollout store is AUTOCANARY_TABLE_ENDPOINT with the identity, never a connection string.
  base_app_settings = {
    AzureWebJobsStorage__accountName          = azurerm_storage_account.this.name
    AzureWebJobsStorage__credential           = "managedidentity"
    AzureWebJobsStorage__clientId             = azurerm_user_assigned_identity.app.client_id
    APPLICATIONINSIGHTS_CONNECTION_STRING     = azurerm_application_insights.this.connection_string
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "ClientId=${azurerm_user_assigned_identity.app.client_id};Authorization=AAD"

    AZURE_SUBSCRIPTION_ID       = var.subscription_id
    AZURE_RESOURCE_GROUP        = var.workspace_resource_group_name
    AZUREML_WORKSPACE_NAME      = var.workspace_name
    AUTOCANARY_POLICY_FILE      = var.policy_file
    AUTOCANARY_METRICS_ENDPOINT = local.metrics_endpoint
    AUTOCANARY_TABLE_ENDPOINT   = local.table_endpoint
    AUTOCANARY_TABLE_NAME       = var.table_name
    AUTOCANARY_MAX_CONCURRENCY  = tostring(var.max_concurrency)
    AUTOCANARY_CREDENTIAL       = "managed-identity"
    AZURE_CLIENT_ID             = azurerm_user_assigned_identity.app.client_id

    # The Python worker configures the Azure Monitor OpenTelemetry distro for these loggers,
    # so the decision records' extra fields become custom dimensions (shared/decisionlog).
    # Current workers read PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY (then call
    # initialize_azure_monitor) and PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME; on them
    # PYTHON_ENABLE_OPENTELEMETRY only announces OpenTelemetry libraries (azure-functions-
    # python-worker dispatcher.py worker_init_request, utils/constants.py). Older workers read
    # PYTHON_ENABLE_OPENTELEMETRY and PYTHON_AZURE_MONITOR_LOGGER_NAME for the same. The
    # platform picks the worker build, so both pairs are set.
    PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY = "true"
    PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME      = "autocanary.decisions"
    PYTHON_ENABLE_OPENTELEMETRY                 = "true"
    PYTHON_AZURE_MONITOR_LOGGER_NAME            = "autocanary.decisions"
  }

  # The HTTP API's keys, never in the state: a Key Vault reference to the secret's latest
  # version (no version in the URI, so a rotated secret is picked up), resolved by the
  # platform with keyVaultReferenceIdentity. Syntax "@Microsoft.KeyVault(SecretUri=...)":
  # Microsoft Learn, app-service-key-vault-references ("Reference syntax"). The trailing
  # slash: a versionless URI without it was seen to keep resolving an older version after a
  # rotation (mdpellegrin.com, "Add the Trailing Slash to Your Azure Key Vault References").
  api_keys_vault_name = var.api_keys == null ? null : element(split("/", var.api_keys.key_vault_id), 8)
  api_keys_reference = var.api_keys == null ? null : format(
    "@Microsoft.KeyVault(SecretUri=https://%s.vault.azure.net/secrets/%s/)",
    local.api_keys_vault_name,
    var.api_keys.secret_name,
  )
  # The read-only keys (AUTOCANARY_API_READ_KEYS), the same way.
  api_read_keys_reference = var.api_read_keys == null ? null : format(
    "@Microsoft.KeyVault(SecretUri=https://%s.vault.azure.net/secrets/%s/)",
    element(split("/", var.api_read_keys.key_vault_id), 8),
    var.api_read_keys.secret_name,
  )

  # The lifecycle topic's endpoint is set only with the topic (unset, the app publishes no
  # lifecycle events); AUTOCANARY_API_KEYS only with api_keys (unset, the API refuses calls).
  # The chat webhook URLs are secrets: each is a Key Vault reference, resolved by App Service
  # with the site's keyVaultReferenceIdentity (learn.microsoft.com/azure/app-service/
  # app-service-key-vault-references: "@Microsoft.KeyVault(SecretUri=...)"; a versionless URI
  # follows the secret's latest version).
  # The data collection container's URL from its resource id (https://ACCOUNT.blob.core.
  # windows.net/NAME: learn.microsoft.com/azure/storage/blobs/storage-blobs-introduction,
  # "Blob storage resources").
  data_collection_parts = var.data_collection_container_id == null ? null : regex("storageAccounts/(?P<account>[^/]+)/blobServices/default/containers/(?P<container>[^/]+)$", var.data_collection_container_id)
  optional_app_settings = merge(
    var.lifecycle_topic_enabled ? {
      AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT = azurerm_eventgrid_topic.lifecycle[0].endpoint
    } : {},
    var.data_collection_container_id != null ? {
      AUTOCANARY_DATA_COLLECTION_CONTAINER_URL = "https://${local.data_collection_parts.account}.blob.core.windows.net/${local.data_collection_parts.container}"
    } : {},
    local.notification_app_settings,
    var.api_keys == null ? {} : { AUTOCANARY_API_KEYS = local.api_keys_reference },
    var.api_read_keys == null ? {} : { AUTOCANARY_API_READ_KEYS = local.api_read_keys_reference },
  )
  notification_app_settings = {
    # with the trailing slash, as for the API keys above (a rotated secret is picked up)
    for name, uri in var.notification_webhook_secrets : name => "@Microsoft.KeyVault(SecretUri=${trimsuffix(uri, "/")}/)"
  }

  app_settings = merge(local.base_app_settings, local.optional_app_settings)
}

# The site's app settings, replaced as a whole (Microsoft.Web/sites/config, name
# `appsettings`, properties = name -> value), as the quickstart above does.
resource "azapi_resource" "app_settings" {
  type      = "Microsoft.Web/sites/config@2024-04-01"
  name      = "appsettings"
  parent_id = azapi_resource.function_app.id

  body = {
    properties = local.app_settings
  }
}
