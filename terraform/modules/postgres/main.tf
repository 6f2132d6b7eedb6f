# Azure Database for PostgreSQL Flexible Server for incident-core (the only writer), query and the
# notifier: VNet-integrated (no public endpoint), TLS required (the server's default), automated
# backups, optional zone-redundant HA. TimescaleDB is allow-listed and preloaded, so the timeline
# hypertable and retention policy can be used (docs/architecture.md); plain PostgreSQL works too.
#
# The password of the application role is generated here and kept in Key Vault by the
# environment, but the role itself is created with SQL once (terraform/README.md): the server is
# reachable only from inside the VNet, where Terraform does not run.

resource "random_password" "admin" {
  length      = 32
  special     = false
  min_upper   = 2
  min_lower   = 2
  min_numeric = 2
}

# No special characters: the password goes into DATABASE_URL without escaping.
resource "random_password" "app" {
  length      = 32
  special     = false
  min_upper   = 2
  min_lower   = 2
  min_numeric = 2
}

resource "azurerm_postgresql_flexible_server" "this" {
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  version             = var.postgres_version
  sku_name            = var.sku_name
  storage_mb          = var.storage_mb
  auto_grow_enabled   = true
  zone                = var.zone

  delegated_subnet_id           = var.subnet_id
  private_dns_zone_id           = var.private_dns_zone_id
  public_network_access_enabled = false

  administrator_login    = var.administrator_login
  administrator_password = random_password.admin.result

  authentication {
    password_auth_enabled         = true
    active_directory_auth_enabled = false
  }

  backup_retention_days        = var.backup_retention_days
  geo_redundant_backup_enabled = var.geo_redundant_backup

  dynamic "high_availability" {
    for_each = var.high_availability ? [1] : []
    content {
      mode                      = "ZoneRedundant"
      standby_availability_zone = var.standby_zone
    }
  }

  # Sunday 03:00 UTC.
  maintenance_window {
    day_of_week  = 0
    start_hour   = 3
    start_minute = 0
  }

  tags = var.tags

  lifecycle {
    # A failover swaps primary and standby zones; that is not drift to undo.
    ignore_changes = [zone, high_availability[0].standby_availability_zone]
  }
}

resource "azurerm_postgresql_flexible_server_configuration" "extensions" {
  name      = "azure.extensions"
  server_id = azurerm_postgresql_flexible_server.this.id
  # BTREE_GIST: the exclusion constraints that keep on-call overrides and layer versions from
  # overlapping (migration 000014), which Azure allows only when listed here.
  value = "BTREE_GIST,TIMESCALEDB,PG_STAT_STATEMENTS"
}

# A static parameter: the provider restarts the server to apply it. After the extensions, because
# the server accepts one parameter change at a time.
resource "azurerm_postgresql_flexible_server_configuration" "preload" {
  name      = "shared_preload_libraries"
  server_id = azurerm_postgresql_flexible_server.this.id
  value     = "pg_stat_statements,timescaledb"

  depends_on = [azurerm_postgresql_flexible_server_configuration.extensions]
}

resource "azurerm_postgresql_flexible_server_database" "this" {
  name      = var.database_name
  server_id = azurerm_postgresql_flexible_server.this.id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

resource "azurerm_monitor_diagnostic_setting" "this" {
  name                       = "log-analytics"
  target_resource_id         = azurerm_postgresql_flexible_server.this.id
  log_analytics_workspace_id = var.log_analytics_workspace_id

  enabled_log {
    category_group = "allLogs"
  }
}
