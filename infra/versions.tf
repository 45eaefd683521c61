# Provider requirements. No provider registry is reachable where this was written, so the
# constraints below come from the provider docs cited in each file, not from `terraform init`.
#
# - azurerm 4.x: `azurerm_storage_container.storage_account_id` (management-plane container,
#   works with shared-key access disabled) and the `FC1` (Flex Consumption) `sku_name` of
#   `azurerm_service_plan` (hashicorp/terraform-provider-azurerm website/docs/r/service_plan
#   .html.markdown, website/docs/r/function_app_flex_consumption.html.markdown).
# - azapi 2.x: `body` is an HCL object and `output` holds `response_export_values`
#   (Azure/terraform-provider-azapi docs/resources/resource.md). azapi 3.0 only makes the
#   api-version mandatory on import (docs/guides/3.0-upgrade-guide.md); it is excluded until
#   this configuration has been planned against it.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.30.0, < 5.0.0"
    }
    azapi = {
      source  = "Azure/azapi"
      version = ">= 2.0.0, < 3.0.0"
    }
  }
}

# azurerm 4.x needs the subscription explicitly. `storage_use_azuread`: the storage account has
# shared-key access disabled, so the provider must use Entra ID for any data-plane call
# (website/docs/index.html.markdown, `storage_use_azuread`; website/docs/r/storage_account
# .html.markdown, note under `shared_access_key_enabled`).
provider "azurerm" {
  features {}
  subscription_id     = var.subscription_id
  storage_use_azuread = true
}

provider "azapi" {
  subscription_id = var.subscription_id
}
