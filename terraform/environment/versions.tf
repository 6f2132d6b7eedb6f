terraform {
  required_version = ">= 1.9"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.12"
    }
    azuread = {
      source  = "hashicorp/azuread"
      version = "~> 3.4"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }

  # Remote state in the storage account of terraform/bootstrap, one state per environment:
  # terraform init -reconfigure -backend-config=<environment>.backend.hcl
  backend "azurerm" {}
}

# The app registration of sign-in (modules/sign-in), in the tenant of the account running Terraform.
provider "azuread" {}

provider "azurerm" {
  subscription_id     = var.subscription_id
  storage_use_azuread = true

  # azurerm 5 registers no resource provider by itself; these are the ones this composition uses.
  resource_providers_to_register = [
    "Microsoft.Cache",
    "Microsoft.ContainerService",
    "Microsoft.DBforPostgreSQL",
    "Microsoft.Insights",
    "Microsoft.KeyVault",
    "Microsoft.ManagedIdentity",
    "Microsoft.Network",
    "Microsoft.OperationalInsights",
    "Microsoft.OperationsManagement",
    "Microsoft.Storage",
  ]

  features {
    key_vault {
      # A destroyed vault stays soft-deleted (recoverable) rather than purged.
      purge_soft_delete_on_destroy    = false
      recover_soft_deleted_key_vaults = true
    }
    resource_group {
      prevent_deletion_if_contains_resources = true
    }
  }
}
