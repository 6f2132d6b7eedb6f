# Azure Managed Redis for the streams between the services.
#
# Why not Azure Cache for Redis: its redis_version "6" is Redis 6.0, and the bus needs 6.2 or newer
# (XADD ... MINID, XPENDING ... IDLE, exclusive XRANGE ranges); the services refuse to start on an
# older server. Azure Managed Redis runs Redis 7.4 (Redis Enterprise).
#
# - Non-clustered (clustering_policy NoCluster): the bus writes a stream and its dead-letter stream
#   in one MULTI/EXEC or one Lua script, keys that fall in different hash slots, which a sharded
#   database (the OSS or Enterprise policy) refuses with CROSSSLOT. Non-clustered caches are at
#   most 24 GB (the SKU validation in variables.tf), plenty for STREAM_MAX_AGE of alerts and events.
# - TLS only (client protocol Encrypted, port 10000), no public network access (a private endpoint
#   in the VNet).
# - Access keys: the services authenticate with the key in REDIS_URL. Microsoft Entra ID (a token
#   as the password, renewed before it expires) is not something they can do yet.
# - NoEviction: the streams are tocsin's queues, and an evicted stream is a lost alert. A full
#   cache then refuses writes, ingest answers 503 and Alertmanager retries.
# - High availability (a replica on another node, in another zone where the region has zones) is
#   always on: without it a node restart loses the streams.
# - Persistence (var.persistence): AOF, every write logged once a second, so that losing both
#   nodes loses about a second; or RDB snapshots every hour; or none.

resource "azurerm_managed_redis" "this" {
  name                      = var.name
  location                  = var.location
  resource_group_name       = var.resource_group_name
  sku_name                  = var.sku_name
  high_availability_enabled = true
  public_network_access     = "Disabled"
  tags                      = var.tags

  default_database {
    access_keys_authentication_enabled = true
    client_protocol                    = "Encrypted"
    clustering_policy                  = "NoCluster"
    eviction_policy                    = "NoEviction"

    persistence_append_only_file_backup_frequency = var.persistence == "aof" ? "1s" : null
    persistence_redis_database_backup_frequency   = var.persistence == "rdb" ? "1h" : null
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
    private_connection_resource_id = azurerm_managed_redis.this.id
    subresource_names              = ["redisEnterprise"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "default"
    private_dns_zone_ids = [var.private_dns_zone_id]
  }
}
