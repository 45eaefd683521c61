# Event Grid: ModelRegistered events from the workspace to on_model_registered, and the
# optional custom topic for autocanary's lifecycle CloudEvents.

locals {
  model_registered_event_type = "Microsoft.MachineLearningServices.ModelRegistered"

  system_topic_name                = var.existing_system_topic != null ? var.existing_system_topic.name : azurerm_eventgrid_system_topic.workspace[0].name
  system_topic_resource_group_name = var.existing_system_topic != null ? var.existing_system_topic.resource_group_name : azurerm_eventgrid_system_topic.workspace[0].resource_group_name
}

# A system topic on the workspace (an Azure resource can have only one; pass
# existing_system_topic to reuse it). website/docs/r/eventgrid_system_topic.html.markdown
# (source_resource_id -- azurerm 5.0 removed source_arm_resource_id -- topic_type
# `Microsoft.MachineLearningServices.Workspaces`, location of the source, identity). The
# topic carries the Event Grid identity, with which it writes dead letters: the storage
# account refuses shared keys.
resource "azurerm_eventgrid_system_topic" "workspace" {
  count = var.existing_system_topic == null ? 1 : 0

  name                = "${var.name_prefix}-aml-events"
  resource_group_name = var.workspace_resource_group_name
  location            = data.azurerm_machine_learning_workspace.this.location
  source_resource_id  = data.azurerm_machine_learning_workspace.this.id
  topic_type          = "Microsoft.MachineLearningServices.Workspaces"
  tags                = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.events.id]
  }
}

# ModelRegistered -> the on_model_registered function. Azure validates that the function
# exists, so this is created only once the code is published (functions_deployed).
# website/docs/r/eventgrid_system_topic_event_subscription.html.markdown: azure_function_endpoint
# (function_id `{function_app.id}/functions/{name}`, max_events_per_batch,
# preferred_batch_size_in_kilobytes), included_event_types, subject_filter
# (subject_begins_with), retry_policy (max_delivery_attempts, event_time_to_live in minutes,
# 1-1440), event_delivery_schema, storage_blob_dead_letter_destination (storage_account_id,
# storage_blob_container_name) and dead_letter_identity (type, user_assigned_identity).
# An event still undelivered when the retry policy runs out (or refused with 400/413) is
# written as a blob to the dead-letter container instead of being dropped
# (learn.microsoft.com/azure/event-grid/delivery-and-retry#dead-letter-events;
# managed-service-identity: dead-lettering with an identity needs Storage Blob Data
# Contributor on the container).
resource "azurerm_eventgrid_system_topic_event_subscription" "model_registered" {
  count = var.functions_deployed ? 1 : 0

  name                  = "${var.name_prefix}-model-registered"
  system_topic          = local.system_topic_name
  resource_group_name   = local.system_topic_resource_group_name
  event_delivery_schema = "EventGridSchema"
  included_event_types  = [local.model_registered_event_type]

  azure_function_endpoint {
    function_id                       = "${azapi_resource.function_app.id}/functions/on_model_registered"
    max_events_per_batch              = 1
    preferred_batch_size_in_kilobytes = 64
  }

  dynamic "subject_filter" {
    for_each = var.model_subject_prefix == "" ? [] : [var.model_subject_prefix]
    content {
      subject_begins_with = subject_filter.value
      case_sensitive      = true
    }
  }

  retry_policy {
    max_delivery_attempts = var.event_max_delivery_attempts
    event_time_to_live    = var.event_ttl_minutes
  }

  storage_blob_dead_letter_destination {
    storage_account_id          = azurerm_storage_account.this.id
    storage_blob_container_name = azurerm_storage_container.dead_letter.name
  }

  dead_letter_identity {
    type                   = "UserAssigned"
    user_assigned_identity = azurerm_user_assigned_identity.events.id
  }

  depends_on = [azapi_resource.app_settings, azurerm_role_assignment.events_dead_letter]
}

# Lifecycle CloudEvents (Autocanary.Rollout.*), published with the app's identity only
# (local_auth_enabled = false: no access key exists to leak). website/docs/r/eventgrid_topic
# .html.markdown: input_schema `CloudEventSchemaV1_0`, local_auth_enabled,
# public_network_access_enabled; exports endpoint. (The resource has no TLS-version argument.)
resource "azurerm_eventgrid_topic" "lifecycle" {
  count = var.lifecycle_topic_enabled ? 1 : 0

  name                          = "${var.name_prefix}-lifecycle-${local.suffix}"
  resource_group_name           = azurerm_resource_group.this.name
  location                      = azurerm_resource_group.this.location
  input_schema                  = "CloudEventSchemaV1_0"
  local_auth_enabled            = false
  public_network_access_enabled = true
  tags                          = local.tags
}
