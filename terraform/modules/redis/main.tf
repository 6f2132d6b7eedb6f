# Azure Cache for Redis for the streams between the services: TLS only (port 6380, TLS 1.2 or
# newer), no public network access (a private endpoint in the VNet), and maxmemory-policy
# noeviction: the streams are tocsin's queues, and an evicted stream is a lost alert. A full cache
# then refuses writes, ingest answers 503 and Alertmanager retries.

locals {
  premium = var.sku_name == "Premium"
}

resource "azurerm_storage_account" "persistence" {
  count = var.persistence ? 1 : 0

  name                            = var.persistence_storage_account_name
  location                        = var.location
  resource_group_name             = var.resource_group_name
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = "ZRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  tags                            = var.tags

  lifecycle {
    precondition {
      condition     = local.premium && var.persistence_storage_account_name != null
      error_message = "Redis persistence needs sku_name = \"Premium\" and persistence_storage_account_name."
    }
  }
}

resource "azurerm_redis_cache" "this" {
  name                          = var.name
  location                      = var.location
  resource_group_name           = var.resource_group_name
  sku_name                      = var.sku_name
  family                        = local.premium ? "P" : "C"
  capacity                      = var.capacity
  redis_version                 = "6"
  non_ssl_port_enabled          = false
  minimum_tls_version           = "1.2"
  public_network_access_enabled = false
  zones                         = local.premium && length(var.zones) > 0 ? var.zones : null

  redis_configuration {
    maxmemory_policy = "noeviction"

    rdb_backup_enabled            = var.persistence ? true : null
    rdb_backup_frequency          = var.persistence ? 60 : null
    rdb_backup_max_snapshot_count = var.persistence ? 1 : null
    rdb_storage_connection_string = var.persistence ? azurerm_storage_account.persistence[0].primary_blob_connection_string : null
  }

  # Sunday 04:00 UTC, after the PostgreSQL window.
  patch_schedule {
    day_of_week    = "Sunday"
    start_hour_utc = 4
  }

  tags = var.tags

  lifecycle {
    # Azure reads the connection string back with a different key order; it is set, not drift.
    ignore_changes = [redis_configuration[0].rdb_storage_connection_string]
  }
}

resource "azurerm_private_endpoint" "this" {
  name                = "${var.name}-pe"
  location            = var.location
  resource_group_name = var.resource_group_name
  subnet_id           = var.private_endpoint_subnet_id
  tags                = var.tags

  private_service_connection {
    name                           = var.name
    private_connection_resource_id = azurerm_redis_cache.this.id
    subresource_names              = ["redisCache"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "default"
    private_dns_zone_ids = [var.private_dns_zone_id]
  }
}
