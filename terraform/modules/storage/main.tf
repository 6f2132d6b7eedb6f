# The storage account for the chart's backup job (daily pg_dump, timestamped) and the archival
# export of incidents past retention: one container each, a lifecycle rule each, versioning and soft
# delete against mistakes. No account keys: the jobs authenticate with the workload identity, which
# the environment grants "Storage Blob Data Contributor" on the two containers.

locals {
  # Azure has no archive tier on zone-redundant accounts: archives stay cool there.
  archive_tier = contains(["LRS", "GRS", "RA-GRS"], var.replication_type)
}

resource "azurerm_storage_account" "this" {
  name                            = var.name
  location                        = var.location
  resource_group_name             = var.resource_group_name
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = var.replication_type
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  tags                            = var.tags

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = 14
    }

    container_delete_retention_policy {
      days = 14
    }
  }
}

resource "azurerm_storage_container" "this" {
  for_each = toset(["backups", "archives"])

  name                  = each.key
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

resource "azurerm_storage_management_policy" "this" {
  storage_account_id = azurerm_storage_account.this.id

  rule {
    name    = "backups"
    enabled = true

    filters {
      blob_types   = ["blockBlob"]
      prefix_match = ["backups/"]
    }

    actions {
      base_blob {
        tier_to_cool_after_days_since_modification_greater_than = 7
        delete_after_days_since_modification_greater_than       = var.backup_retention_days
      }

      version {
        delete_after_days_since_creation = 14
      }
    }
  }

  rule {
    name    = "archives"
    enabled = true

    filters {
      blob_types   = ["blockBlob"]
      prefix_match = ["archives/"]
    }

    actions {
      base_blob {
        tier_to_cool_after_days_since_modification_greater_than    = 30
        tier_to_archive_after_days_since_modification_greater_than = local.archive_tier ? 90 : null
        delete_after_days_since_modification_greater_than          = var.archive_retention_days
      }

      version {
        delete_after_days_since_creation = 14
      }
    }
  }
}
