# Staging: what makes this environment different from production. Everything else (main.tf,
# variables.tf, outputs.tf, versions.tf) is the same file in both (scripts/lint-delivery.sh).
# Smaller and cheaper; no HA, so it can be torn down and rebuilt.

locals {
  environment = "staging"

  aks = {
    sku_tier    = "Free"
    zones       = ["1", "2", "3"]
    system_pool = { vm_size = "Standard_D2ds_v5", min_count = 1, max_count = 2 }
    user_pool   = { vm_size = "Standard_D4ds_v5", min_count = 1, max_count = 4 }
  }

  postgres = {
    # Burstable: no high availability. B2ms gives max_connections 429; lower the pool sizes or
    # the replicas if staging runs the production example's autoscaling limits.
    sku_name              = "B_Standard_B2ms"
    storage_mb            = 32768
    high_availability     = false
    backup_retention_days = 7
    geo_redundant_backup  = false
  }

  redis = {
    # Standard C1: a replica, no zones, no persistence.
    sku_name    = "Standard"
    capacity    = 1
    zones       = []
    persistence = false
  }

  storage = {
    replication_type       = "LRS"
    backup_retention_days  = 14
    archive_retention_days = 90
  }

  # Off, so that staging can be destroyed and recreated under the same names.
  key_vault_purge_protection = false
  log_retention_days         = 30
}
