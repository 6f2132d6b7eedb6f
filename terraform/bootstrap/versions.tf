terraform {
  required_version = ">= 1.9"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.12"
    }
  }
  # Local state: this creates the account the other state lives in. Keep terraform.tfstate safe
  # (or move it into the account afterwards, README.md).
}

provider "azurerm" {
  subscription_id     = var.subscription_id
  storage_use_azuread = true

  resource_providers_to_register = ["Microsoft.Storage"]

  features {}
}
