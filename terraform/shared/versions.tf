terraform {
  required_version = ">= 1.9"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.12"
    }
  }

  # Remote state in the storage account of terraform/bootstrap; the rest of the settings are in
  # backend.hcl: terraform init -backend-config=backend.hcl
  backend "azurerm" {}
}

provider "azurerm" {
  subscription_id     = var.subscription_id
  storage_use_azuread = true

  # azurerm 5 registers no resource provider by itself; these are the ones this composition uses.
  resource_providers_to_register = [
    "Microsoft.ContainerRegistry",
    "Microsoft.ManagedIdentity",
    "Microsoft.Network",
  ]

  features {}
}
