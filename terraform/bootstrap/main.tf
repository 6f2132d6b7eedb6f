# The storage account holding the Terraform state of terraform/shared and terraform/environment: versioned, with soft
# delete (a state overwritten by mistake can be restored), no account keys (the backends sign in
# with Entra ID, use_azuread_auth) and locking through blob leases.

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "this" {
  name     = var.resource_group_name
  location = var.location
  tags     = { app = "tocsin", purpose = "terraform-state" }
}

resource "azurerm_storage_account" "this" {
  name                            = var.storage_account_name
  location                        = var.location
  resource_group_name             = azurerm_resource_group.this.name
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = "ZRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  tags                            = azurerm_resource_group.this.tags

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = 30
    }

    container_delete_retention_policy {
      days = 30
    }
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "azurerm_storage_container" "tfstate" {
  name                  = "tfstate"
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

resource "azurerm_role_assignment" "state_writers" {
  for_each = merge({ bootstrapper = data.azurerm_client_config.current.object_id }, var.state_writers)

  scope                = azurerm_storage_account.this.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}
