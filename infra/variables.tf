# Inputs. Every variable has a type, a description and, where a bad value would only fail at
# apply time (or never), a validation block that fails at plan time with the reason.

variable "subscription_id" {
  type        = string
  description = "Subscription of the existing Azure ML workspace; autocanary's resources are created in it too."

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)."
  }
}

variable "workspace_name" {
  type        = string
  description = "Name of the EXISTING Azure ML workspace whose online endpoints autocanary rolls out (AZUREML_WORKSPACE_NAME)."

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$", var.workspace_name))
    error_message = "workspace_name must be 3-33 characters: letters, digits, '-' or '_', starting with a letter or digit."
  }
}

variable "workspace_resource_group_name" {
  type        = string
  description = "Resource group of the existing Azure ML workspace (AZURE_RESOURCE_GROUP). The Event Grid system topic on the workspace is created here."

  validation {
    condition     = can(regex("^[-\\w\\.\\(\\)]{1,89}[-\\w\\(\\)]$", var.workspace_resource_group_name))
    error_message = "workspace_resource_group_name must be 1-90 characters of letters, digits, '-', '_', '.', '(' or ')', not ending in '.'."
  }
}

variable "resource_group_name" {
  type        = string
  description = "Resource group CREATED for autocanary's own resources (function app, plan, storage, identity, monitoring)."

  validation {
    condition     = can(regex("^[-\\w\\.\\(\\)]{1,89}[-\\w\\(\\)]$", var.resource_group_name))
    error_message = "resource_group_name must be 1-90 characters of letters, digits, '-', '_', '.', '(' or ')', not ending in '.'."
  }
}

variable "location" {
  type        = string
  description = "Azure region for autocanary's resources; null (default) uses the workspace's region. The region must offer the Flex Consumption plan."
  default     = null

  validation {
    condition     = var.location == null || can(regex("^[a-z0-9]+$", var.location))
    error_message = "location must be a region name like 'westeurope' (lower case, no spaces), or null for the workspace's region."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (lower case letters, digits and '-'; 3-16 characters). A short hash of the subscription and resource group is appended where names must be globally unique."
  default     = "autocanary"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-16 characters: lower case letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "storage_account_name" {
  type        = string
  description = "Name of the storage account to create (globally unique, 3-24 lower case letters and digits); null derives one from name_prefix."
  default     = null

  validation {
    condition     = var.storage_account_name == null || can(regex("^[a-z0-9]{3,24}$", var.storage_account_name))
    error_message = "storage_account_name must be 3-24 lower case letters and digits, or null."
  }
}

variable "storage_replication_type" {
  type        = string
  description = "Replication of the storage account (rollout records, host state): GZRS (default) keeps a copy in each availability zone of the region and another in the paired region; GRS where the region has no zones; ZRS or LRS to save cost (fails checkov CKV_AZURE_206)."
  default     = "GZRS"

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"], var.storage_replication_type)
    error_message = "storage_replication_type must be one of LRS, ZRS, GRS, RAGRS, GZRS, RAGZRS."
  }
}

variable "blob_soft_delete_days" {
  type        = number
  description = "Soft-delete retention of deleted blobs and containers (deployment packages, dead letters), in days (1-365)."
  default     = 7

  validation {
    condition     = var.blob_soft_delete_days >= 1 && var.blob_soft_delete_days <= 365 && floor(var.blob_soft_delete_days) == var.blob_soft_delete_days
    error_message = "blob_soft_delete_days must be a whole number from 1 to 365."
  }
}

variable "policy_file" {
  type        = string
  description = "AUTOCANARY_POLICY_FILE: path, relative to the app root, of the YAML/JSON rollout policy deployed with the code."
  default     = "policy.yaml"

  validation {
    condition     = can(regex("^[^/][^\\\\]*\\.(ya?ml|json)$", var.policy_file)) && !strcontains(var.policy_file, "..")
    error_message = "policy_file must be a relative path inside the app ending in .yaml, .yml or .json (no leading '/', no '..')."
  }
}

variable "table_name" {
  type        = string
  description = "AUTOCANARY_TABLE_NAME: Azure Table holding rollouts (the app creates it on first use)."
  default     = "autocanary"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9]{2,62}$", var.table_name))
    error_message = "table_name must be 3-63 letters and digits, starting with a letter (Azure Table naming rules)."
  }
}

variable "max_concurrency" {
  type        = number
  description = "AUTOCANARY_MAX_CONCURRENCY: rollouts reconciled in parallel per tick (1-64)."
  default     = 8

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 64 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number from 1 to 64."
  }
}

variable "maximum_instance_count" {
  type        = number
  description = "Flex Consumption scale-out limit of the function app (40-1000)."
  default     = 40

  validation {
    condition     = var.maximum_instance_count >= 40 && var.maximum_instance_count <= 1000 && floor(var.maximum_instance_count) == var.maximum_instance_count
    error_message = "maximum_instance_count must be a whole number from 40 to 1000."
  }
}

variable "instance_memory_mb" {
  type        = number
  description = "Flex Consumption instance memory in MB (2048 or 4096)."
  default     = 2048

  validation {
    condition     = contains([2048, 4096], var.instance_memory_mb)
    error_message = "instance_memory_mb must be 2048 or 4096."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the Log Analytics workspace behind Application Insights, in days (30-730)."
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be from 30 to 730."
  }
}

variable "functions_deployed" {
  type        = bool
  description = "Set to true once the code has been published: the Event Grid subscription (which Azure validates against the on_model_registered function), the function key lookup, the action group and the metric alerts are created only then."
  default     = false
}

variable "existing_system_topic" {
  type = object({
    name                = string
    resource_group_name = string
  })
  description = "An Event Grid system topic that ALREADY exists on the workspace (a source resource can have only one); null (default) creates one in the workspace's resource group."
  default     = null

  validation {
    condition     = var.existing_system_topic == null || (try(length(var.existing_system_topic.name), 0) >= 3 && try(length(var.existing_system_topic.resource_group_name), 0) >= 1)
    error_message = "existing_system_topic needs a name (3+ characters) and a resource_group_name, or must be null."
  }
}

variable "model_subject_prefix" {
  type        = string
  description = "Optional subject prefix filter of the ModelRegistered subscription, e.g. 'models/fraud-' (subjects are 'models/{name}:{version}'); empty delivers every registration."
  default     = ""

  validation {
    condition     = var.model_subject_prefix == "" || startswith(var.model_subject_prefix, "models/")
    error_message = "model_subject_prefix must be empty or start with 'models/' (Event Grid subjects of model events are 'models/{name}:{version}')."
  }
}

variable "event_max_delivery_attempts" {
  type        = number
  description = "Event Grid retry policy: maximum delivery attempts of a ModelRegistered event (1-30)."
  default     = 30

  validation {
    condition     = var.event_max_delivery_attempts >= 1 && var.event_max_delivery_attempts <= 30 && floor(var.event_max_delivery_attempts) == var.event_max_delivery_attempts
    error_message = "event_max_delivery_attempts must be a whole number from 1 to 30."
  }
}

variable "dead_letter_container_name" {
  type        = string
  description = "Blob container (created in autocanary's storage account) that receives ModelRegistered events Event Grid could not deliver within the retry policy."
  default     = "eventgrid-deadletter"

  validation {
    condition     = can(regex("^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$", var.dead_letter_container_name))
    error_message = "dead_letter_container_name must be a blob container name: 3-63 lower case letters, digits and single '-', starting and ending with a letter or digit."
  }
}

variable "event_ttl_minutes" {
  type        = number
  description = "Event Grid retry policy: time to live of an undelivered event, in minutes (1-1440)."
  default     = 1440

  validation {
    condition     = var.event_ttl_minutes >= 1 && var.event_ttl_minutes <= 1440 && floor(var.event_ttl_minutes) == var.event_ttl_minutes
    error_message = "event_ttl_minutes must be a whole number from 1 to 1440."
  }
}

variable "role_allows_data_collection_assets" {
  type        = bool
  description = "Let the app's custom role read and register Azure ML data assets and read datastores: azure-ai-ml registers a deployment's data-collection assets when it creates a deployment that collects data. false: clones of deployments with data collection fail with 403."
  default     = true
}

variable "data_collection_container_id" {
  type        = string
  description = "Resource id of the blob container where the endpoints' data collection writes (the workspace blob store's container: /subscriptions/.../storageAccounts/ACCOUNT/blobServices/default/containers/NAME). Set: the app reads the live deployment's collected model_inputs for a policy's data_collection samples (AUTOCANARY_DATA_COLLECTION_CONTAINER_URL) and its identity gets Storage Blob Data Reader on that container only. null: data_collection samples are no data."
  default     = null

  validation {
    condition     = var.data_collection_container_id == null || can(regex("^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.Storage/storageAccounts/[a-z0-9]{3,24}/blobServices/default/containers/[a-z0-9-]{3,63}$", var.data_collection_container_id))
    error_message = "data_collection_container_id must be a blob container resource id (.../providers/Microsoft.Storage/storageAccounts/ACCOUNT/blobServices/default/containers/NAME) or null."
  }
}

variable "lifecycle_topic_enabled" {
  type        = bool
  description = "Create a custom Event Grid topic (CloudEvents 1.0, Entra ID only) for the lifecycle events autocanary publishes, set AUTOCANARY_EVENTGRID_TOPIC_ENDPOINT and grant the identity EventGrid Data Sender on it."
  default     = false
}

variable "notification_key_vault_id" {
  type        = string
  description = "Resource id of an existing Key Vault (Azure RBAC authorization) holding the chat webhook URLs of notification_webhook_secrets as secrets; the app's identity gets Key Vault Secrets User on each of those secrets, nothing else of the vault. null: no notifications."
  default     = null

  validation {
    condition     = var.notification_key_vault_id == null || can(regex("^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.KeyVault/vaults/[a-zA-Z0-9-]{3,24}$", var.notification_key_vault_id))
    error_message = "notification_key_vault_id must be a Key Vault resource id (/subscriptions/.../resourceGroups/.../providers/Microsoft.KeyVault/vaults/NAME) or null."
  }
}

variable "notification_webhook_secrets" {
  type        = map(string)
  description = "Chat webhook app settings as Key Vault references: app setting name -> versionless secret URI (https://VAULT.vault.azure.net/secrets/NAME), e.g. AUTOCANARY_TEAMS_WEBHOOK_URL, AUTOCANARY_SLACK_WEBHOOK_URL, and every setting a policy rule's notify names. Needs notification_key_vault_id (the vault of these secrets)."
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.notification_webhook_secrets) : can(regex("^[A-Za-z_][A-Za-z0-9_]{0,127}$", name))])
    error_message = "Every notification_webhook_secrets key must be an app setting name: letters, digits and underscores, not starting with a digit."
  }

  validation {
    condition     = alltrue([for uri in values(var.notification_webhook_secrets) : can(regex("^https://[a-zA-Z0-9-]{3,24}\\.vault\\.azure\\.net/secrets/[a-zA-Z0-9-]{1,127}/?$", uri))])
    error_message = "Every notification_webhook_secrets value must be a versionless Key Vault secret URI, https://VAULT.vault.azure.net/secrets/NAME (a new secret version is then picked up without a change here)."
  }

  # Without the vault's id no role lets the app read the secrets, and App Service then passes
  # the reference string itself as the setting's value ("If a reference isn't resolved
  # properly, the reference string is used instead": learn.microsoft.com/azure/app-service/
  # app-service-key-vault-references, Troubleshooting): notices would silently go nowhere.
  # Cross-variable validation needs Terraform >= 1.9 (versions.tf asks for 1.11).
  validation {
    condition = length(var.notification_webhook_secrets) == 0 || (
      var.notification_key_vault_id != null && alltrue([
        for uri in values(var.notification_webhook_secrets) :
        lower(regex("^https://([a-zA-Z0-9-]+)\\.", uri)[0]) == lower(element(split("/", coalesce(var.notification_key_vault_id, "/")), length(split("/", coalesce(var.notification_key_vault_id, "/"))) - 1))
      ])
    )
    error_message = "notification_webhook_secrets needs notification_key_vault_id, and every secret URI must be in that vault (the app is granted read on that vault only; an unreadable reference would reach the app as its literal text)."
  }
}

variable "api_keys" {
  type = object({
    key_vault_id = string
    secret_name  = string
  })
  description = "The Key Vault secret holding the HTTP API's keys (AUTOCANARY_API_KEYS, one or more separated by commas, each 32-512 characters): the vault's resource id (Azure RBAC authorization) and the secret's name. The app setting is a Key Vault reference to the secret's latest version, and the app's identity is granted Key Vault Secrets User on that secret only. Null (default): AUTOCANARY_API_KEYS is not set and the API refuses every call with a 401 saying so."
  default     = null

  validation {
    condition = var.api_keys == null || (
      can(regex("^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/Microsoft\\.KeyVault/vaults/[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$", try(var.api_keys.key_vault_id, ""))) &&
      can(regex("^[0-9a-zA-Z-]{1,127}$", try(var.api_keys.secret_name, "")))
    )
    error_message = "api_keys.key_vault_id must be a Key Vault resource id (/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<3-24 characters>) and api_keys.secret_name 1-127 letters, digits and '-'."
  }
}

variable "api_read_keys" {
  type = object({
    key_vault_id = string
    secret_name  = string
  })
  description = "The Key Vault secret holding the HTTP API's read-only keys (AUTOCANARY_API_READ_KEYS: keys that read and never act, for the dashboard's viewers and status pages), in the same form as api_keys; the app's identity is granted Key Vault Secrets User on that secret only. Null (default): no read-only key."
  default     = null

  validation {
    condition = var.api_read_keys == null || (
      can(regex("^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/Microsoft\\.KeyVault/vaults/[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$", try(var.api_read_keys.key_vault_id, ""))) &&
      can(regex("^[0-9a-zA-Z-]{1,127}$", try(var.api_read_keys.secret_name, "")))
    )
    error_message = "api_read_keys.key_vault_id must be a Key Vault resource id (/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<3-24 characters>) and api_read_keys.secret_name 1-127 letters, digits and '-'."
  }
}

variable "endpoints" {
  type = map(object({
    latency_p99_threshold_ms = optional(number, 1000)
    errors_5xx_per_minute    = optional(number, 5)
    model_errors_per_minute  = optional(number, 1)
    severity                 = optional(number, 1)
  }))
  description = "Online endpoints of the workspace to guard with metric alerts, keyed by endpoint name. Three rules per endpoint, each split by deployment (alert_split_by_deployment): RequestLatency_P99 above latency_p99_threshold_ms; more than errors_5xx_per_minute 5xx requests per minute (RequestsPerMinute, statusCodeClass 5xx, Average over the window); more than model_errors_per_minute model errors per minute (RequestsPerMinute, statusCode 424: a failing scoring script). A fired alert on the canary rolls back the endpoint's active rollout."
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.endpoints) : can(regex("^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$", name))])
    error_message = "Every endpoints key must be an online endpoint name: 3-32 letters, digits and '-', starting with a letter and not ending with '-'."
  }

  validation {
    condition     = alltrue([for e in values(var.endpoints) : e.latency_p99_threshold_ms > 0 && e.errors_5xx_per_minute >= 0 && e.model_errors_per_minute >= 0])
    error_message = "latency_p99_threshold_ms must be > 0; errors_5xx_per_minute and model_errors_per_minute must be >= 0."
  }

  validation {
    condition     = alltrue([for e in values(var.endpoints) : contains([0, 1, 2, 3, 4], e.severity)])
    error_message = "severity must be 0, 1, 2, 3 or 4."
  }
}

variable "alert_split_by_deployment" {
  type        = bool
  description = "Split every metric alert by the `deployment` dimension: each deployment is its own time series, and the fired alert names the deployment (so an alert on the baseline does not roll back a healthy canary). false: one series per endpoint."
  default     = true
}

variable "alert_window_size" {
  type        = string
  description = "Window of the metric alerts (ISO 8601; evaluated every minute, so it must be longer than PT1M)."
  default     = "PT5M"

  validation {
    condition     = contains(["PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D"], var.alert_window_size)
    error_message = "alert_window_size must be one of PT5M, PT15M, PT30M, PT1H, PT6H, PT12H, P1D."
  }
}

variable "additional_action_group_ids" {
  type        = list(string)
  description = "Existing action groups (e.g. an on-call e-mail group) also notified by every metric alert, besides autocanary's own."
  default     = []

  validation {
    condition     = alltrue([for id in var.additional_action_group_ids : can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.Insights/actionGroups/[^/]+$", id))])
    error_message = "additional_action_group_ids must be action group resource ids (/subscriptions/.../providers/Microsoft.Insights/actionGroups/NAME)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource this configuration creates."
  default     = {}
}
