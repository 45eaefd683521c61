# Provider requirements. No provider registry is reachable where this was written, so the
# constraints come from the provider docs, not from `terraform init`:
# tests/infra/provider_docs.json is an extract of hashicorp/terraform-provider-azurerm 5.2.0
# (website/docs) and Azure/terraform-provider-azapi 2.12.0 (docs), with their commits, and
# tests/unit/test_infra_provider_docs.py checks every argument used here against it.
#
# - azurerm 5.x: `source_resource_id` of the system topic and `local_authentication_enabled`
#   of Application Insights (5.0 removed `source_arm_resource_id` and
#   `local_authentication_disabled`: website/docs/guides/5.0-upgrade-guide.html.markdown),
#   `storage_container.storage_account_id`, `FC1` plans.
# - azapi 2.x: `body` is an HCL object, `output` holds `response_export_values`,
#   `sensitive_body` is write-only, and `ephemeral "azapi_resource_action"` exists
#   (docs/resources/resource.md, docs/ephemeral-resources/resource_action.md).
# - Terraform >= 1.11: ephemeral resources (1.10) and write-only arguments (1.11).
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 5.2.0, < 6.0.0"
    }
    azapi = {
      source  = "Azure/azapi"
      version = ">= 2.12.0, < 3.0.0"
    }
  }
}

# azurerm needs the subscription explicitly. `storage_use_azuread`: the storage account has
# shared-key access disabled, so the provider must use Entra ID for any data-plane call
# (website/docs/index.html.markdown, `storage_use_azuread`). azurerm 5.0 registers no
# resource provider by default (`resource_provider_registrations = "none"`): the ones the
# resources here use ("API Providers" of each resource's doc) are listed
# (index.html.markdown, `resource_providers_to_register`); Microsoft.Authorization and
# Microsoft.Resources are always registered, Microsoft.MachineLearningServices is, since the
# workspace exists.
provider "azurerm" {
  features {}
  subscription_id     = var.subscription_id
  storage_use_azuread = true
  resource_providers_to_register = [
    "Microsoft.AlertsManagement",
    "Microsoft.EventGrid",
    "Microsoft.Insights",
    "Microsoft.ManagedIdentity",
    "Microsoft.OperationalInsights",
    "Microsoft.Storage",
    "Microsoft.Web",
  ]
}

provider "azapi" {
  subscription_id = var.subscription_id
}
