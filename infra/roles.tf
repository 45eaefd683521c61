# Least privilege for the app's identity: a custom Azure ML role on the workspace, the
# built-in data-plane roles the Functions host and the app need, and Event Grid's identity.

locals {
  # Azure ML actions the app performs, and nothing more (shared/azure/endpoints.py, through
  # azure-ai-ml 1.35's MLClient; action names from learn.microsoft.com/azure/
  # role-based-access-control/permissions/ai-machine-learning#microsoftmachinelearningservices):
  # - online_endpoints.get + online_deployments.list/get: onlineEndpoints/read,
  #   onlineEndpoints/deployments/read;
  # - online_endpoints.begin_create_or_update (traffic and mirror traffic): workspaces/read
  #   (the SDK reads the workspace location first) and onlineEndpoints/write, then polls the
  #   operation (onlineendpoints/operationsstatus/read, operationresults/read);
  # - online_deployments.begin_create_or_update / begin_delete: onlineEndpoints/deployments/
  #   write and delete, polled (onlineendpoints/deployments/operationsstatus/read,
  #   operationresults/read);
  # - online_deployments.get_logs: onlineendpoints/deployments/getlogs/action;
  # - a deployment cloned with data collection registers its collection data assets first
  #   (azure-ai-ml operations/_online_deployment_operations.py
  #   _register_collection_data_assets: data create_or_update, or get when it exists):
  #   data/versions/read and write, datastores/read (the default datastore of the path).
  # - online_endpoints.get_keys (the smoke test and the shadow comparison score the new
  #   deployment with the endpoint's key): onlineEndpoints/listKeys/action (learn.microsoft.com
  #   /azure/machine-learning/how-to-authenticate-online-endpoint, "get the key": Owner,
  #   Contributor or a custom role allowing that action).
  # Not granted: onlineEndpoints/delete, regenerateKeys, and everything outside online
  # endpoints.
  endpoint_actions = [
    "Microsoft.MachineLearningServices/workspaces/read",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write",
    "Microsoft.MachineLearningServices/workspaces/onlineendpoints/operationsstatus/read",
    "Microsoft.MachineLearningServices/workspaces/onlineendpoints/operationresults/read",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/read",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/write",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/delete",
    "Microsoft.MachineLearningServices/workspaces/onlineendpoints/deployments/operationsstatus/read",
    "Microsoft.MachineLearningServices/workspaces/onlineendpoints/deployments/operationresults/read",
    "Microsoft.MachineLearningServices/workspaces/onlineendpoints/deployments/getlogs/action",
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/listKeys/action",
  ]
  data_collection_actions = [
    "Microsoft.MachineLearningServices/workspaces/data/versions/read",
    "Microsoft.MachineLearningServices/workspaces/data/versions/write",
    "Microsoft.MachineLearningServices/workspaces/datastores/read",
  ]
  workspace_resource_group_id = "/subscriptions/${var.subscription_id}/resourceGroups/${var.workspace_resource_group_name}"

  endpoint_operator_actions = concat(
    local.endpoint_actions,
    var.role_allows_data_collection_assets ? local.data_collection_actions : [],
  )
}

# A custom role with exactly those actions (instead of the built-in AzureML Data Scientist,
# which can do almost everything in the workspace), assigned on the workspace only. Its
# assignable scope is the workspace's resource group: custom roles are assignable at
# management group, subscription or resource group scopes (learn.microsoft.com/azure/
# role-based-access-control/role-definitions#assignablescopes), and a role assignable there can
# be assigned on a resource inside it.
# website/docs/r/role_definition.html.markdown (name, scope, description,
# permissions{actions}, assignable_scopes; exports role_definition_resource_id).
resource "azurerm_role_definition" "endpoint_operator" {
  name              = "${var.name_prefix} online endpoint operator (${var.workspace_name})"
  scope             = local.workspace_resource_group_id
  description       = "autocanary: read online endpoints and deployments, set traffic, create and delete deployments, read deployment logs."
  assignable_scopes = [local.workspace_resource_group_id]

  permissions {
    actions = local.endpoint_operator_actions
  }
}

# website/docs/r/role_assignment.html.markdown (role_definition_id of a custom role).
resource "azurerm_role_assignment" "app_endpoint_operator" {
  scope              = data.azurerm_machine_learning_workspace.this.id
  role_definition_id = azurerm_role_definition.endpoint_operator.role_definition_resource_id
  principal_id       = azurerm_user_assigned_identity.app.principal_id
  principal_type     = "ServicePrincipal"
}

# Azure ML's long-running operations report at the subscription, not under the workspace:
# the status URL of a traffic update or a deployment's create is .../subscriptions/{id}/
# providers/Microsoft.MachineLearningServices/locations/{region}/mfeOperationsStatus/...
# (the Azure-AsyncOperation header the SDK's poller follows, and the deployment's
# AzureAsyncOperationUri that shared/azure/operation_status.py reads for a failure's reason).
# The workspace role above cannot grant a read there; Monitoring Reader on the subscription
# happens to (it reads every resource type), so narrowing it would break every traffic update
# after the change was sent. This role says so explicitly: the read of Azure ML's regional
# resources, as Azure's own AI Developer role grants it apart from its workspace actions
# (Microsoft.MachineLearningServices/locations/*/read: learn.microsoft.com/azure/
# role-based-access-control/built-in-roles/ai-machine-learning).
locals {
  operation_status_actions = [
    "Microsoft.MachineLearningServices/locations/*/read",
  ]
}

# website/docs/r/role_definition.html.markdown, as endpoint_operator above, at the
# subscription (the scope of the status resources).
resource "azurerm_role_definition" "operation_status_reader" {
  #checkov:skip=CKV_AZURE_39:Not an owner role: the check flags any '*' in an action string, and this role's only action is the read of Azure ML's regional resources (locations/*/read), as Azure's built-in AI Developer role grants it.
  name              = "${var.name_prefix} Azure ML operation status reader (${var.workspace_name})"
  scope             = "/subscriptions/${var.subscription_id}"
  description       = "autocanary: read the status of Azure ML's long-running operations (traffic updates, deployment creates) in the workspace's region."
  assignable_scopes = ["/subscriptions/${var.subscription_id}"]

  permissions {
    actions = local.operation_status_actions
  }
}

# website/docs/r/role_assignment.html.markdown.
resource "azurerm_role_assignment" "app_operation_status_reader" {
  scope              = "/subscriptions/${var.subscription_id}"
  role_definition_id = azurerm_role_definition.operation_status_reader.role_definition_resource_id
  principal_id       = azurerm_user_assigned_identity.app.principal_id
  principal_type     = "ServicePrincipal"
}

# Autoscale settings of the deployments (shared/azure/autoscale.py, azure-mgmt-monitor's
# autoscale_settings: list_by_resource_group, create_or_update, delete). An autoscale setting
# is a resource of the resource group, not of the workspace, so these actions need a role on
# the workspace's resource group; a second custom role keeps them apart from the Azure ML ones
# (action names: learn.microsoft.com/azure/role-based-access-control/permissions/
# monitor#microsoftinsights, Microsoft.Insights/AutoscaleSettings/Read, Write, Delete; the
# write is the one learn.microsoft.com/azure/machine-learning/how-to-autoscale-endpoints
# names). Not granted: AutoscaleSettings/Scaleup/Action and /Scaledown/Action (Azure's own).
locals {
  autoscale_actions = [
    "Microsoft.Insights/autoscalesettings/read",
    "Microsoft.Insights/autoscalesettings/write",
    "Microsoft.Insights/autoscalesettings/delete",
  ]
}

# website/docs/r/role_definition.html.markdown, as endpoint_operator above.
resource "azurerm_role_definition" "autoscale_operator" {
  name              = "${var.name_prefix} autoscale operator (${var.workspace_name})"
  scope             = local.workspace_resource_group_id
  description       = "autocanary: copy the live deployment's autoscale setting to a promoted one, and remove the settings of deployments it deletes."
  assignable_scopes = [local.workspace_resource_group_id]

  permissions {
    actions = local.autoscale_actions
  }
}

# website/docs/r/role_assignment.html.markdown, on the resource group the settings live in.
resource "azurerm_role_assignment" "app_autoscale_operator" {
  scope              = local.workspace_resource_group_id
  role_definition_id = azurerm_role_definition.autoscale_operator.role_definition_resource_id
  principal_id       = azurerm_user_assigned_identity.app.principal_id
  principal_type     = "ServicePrincipal"
}

locals {
  # Built-in roles of the app's identity, each with the scope it needs
  # (role names: learn.microsoft.com/azure/role-based-access-control/built-in-roles):
  # - subscription, Monitoring Reader: the endpoints' metrics through the metrics batch API
  #   (POST /subscriptions/{id}/metrics:getBatch), which needs the role on the subscription
  #   itself: "the request fails if the user doesn't have Monitoring Reader on the
  #   subscription itself", even with it on every queried resource (learn.microsoft.com/azure/
  #   azure-monitor/metrics/migrate-to-batch-api, "401 authorization errors"; the SDK says
  #   the same: azure-monitor-querymetrics MetricsClient, "A credential with authorization at
  #   the subscription level is required"). Monitoring Reader grants reads only;
  # - storage account, Storage Blob Data Owner: the Functions host with an identity-based
  #   AzureWebJobsStorage needs it (learn.microsoft.com/azure/azure-functions/
  #   functions-reference#connecting-to-host-storage-with-an-identity: "Storage Blob Data
  #   Owner" for host storage -- the host creates its containers, keeps its keys in
  #   azure-webjobs-secrets and holds blob leases for the timer singleton); the same
  #   identity reads the Flex Consumption deployment package (functionAppConfig.deployment
  #   .storage.authentication; the flex-managed-identities quickstart grants this role);
  # - storage account, Storage Table Data Contributor: the rollout table (the app creates it
  #   on first use, so the role is on the account, not on one table);
  # - no Storage Queue Data Contributor: the app has no queue or blob trigger (the host
  #   needs queues only for those);
  # - Application Insights: Entra ID telemetry (Monitoring Metrics Publisher);
  # - lifecycle topic, when enabled: EventGrid Data Sender.
  base_role_assignments = {
    subscription_monitoring_reader = {
      scope = "/subscriptions/${var.subscription_id}"
      role  = "Monitoring Reader"
    }
    storage_blob_data_owner = {
      scope = azurerm_storage_account.this.id
      role  = "Storage Blob Data Owner"
    }
    storage_table_data_contributor = {
      scope = azurerm_storage_account.this.id
      role  = "Storage Table Data Contributor"
    }
    appinsights_monitoring_metrics_publisher = {
      scope = azurerm_application_insights.this.id
      role  = "Monitoring Metrics Publisher"
    }
  }

  optional_role_assignments = merge(
    var.lifecycle_topic_enabled ? {
      lifecycle_topic_eventgrid_data_sender = {
        scope = azurerm_eventgrid_topic.lifecycle[0].id
        role  = "EventGrid Data Sender"
      }
    } : {},
    # Reads the live deployments' collected inputs (smoke and compare samples), in the data
    # collection container only.
    var.data_collection_container_id != null ? {
      data_collection_blob_data_reader = {
        scope = var.data_collection_container_id
        role  = "Storage Blob Data Reader"
      }
    } : {},
    # Reads the chat webhook secrets (Key Vault references), each on its own secret and
    # nothing else of the vault (a secret is a Key Vault RBAC scope, as for the API keys
    # below); settings that name the same secret share one assignment.
    var.notification_key_vault_id == null ? {} : {
      for secret in distinct([
        for uri in values(var.notification_webhook_secrets) :
        lower(regex("/secrets/([a-zA-Z0-9-]+)", uri)[0]) # secret names are case-insensitive
      ]) :
      "notification_secret_user_${secret}" => {
        scope = "${var.notification_key_vault_id}/secrets/${secret}"
        role  = "Key Vault Secrets User"
      }
    },
    # Read the API keys' secret, that secret only (a secret is a Key Vault RBAC scope:
    # Microsoft Learn, key-vault/general/rbac-guide, "Secret scope role assignment").
    var.api_keys == null ? {} : {
      api_keys_secret_user = {
        scope = "${var.api_keys.key_vault_id}/secrets/${var.api_keys.secret_name}"
        role  = "Key Vault Secrets User"
      }
    },
    var.api_read_keys == null ? {} : {
      api_read_keys_secret_user = {
        scope = "${var.api_read_keys.key_vault_id}/secrets/${var.api_read_keys.secret_name}"
        role  = "Key Vault Secrets User"
      }
    },
  )

  role_assignments = merge(local.base_role_assignments, local.optional_role_assignments)
}

# website/docs/r/role_assignment.html.markdown (scope, role_definition_name, principal_id,
# principal_type `ServicePrincipal` so a fresh identity is not looked up in Entra ID first).
resource "azurerm_role_assignment" "app" {
  for_each = local.role_assignments

  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# Event Grid's identity may write dead letters, in the dead-letter container only.
# website/docs/r/role_assignment.html.markdown (a container's `id` is its Resource Manager id
# when created with storage_account_id).
resource "azurerm_role_assignment" "events_dead_letter" {
  scope                = azurerm_storage_container.dead_letter.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.events.principal_id
  principal_type       = "ServicePrincipal"
}
