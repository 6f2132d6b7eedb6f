# Production: what makes this environment different from staging. Everything else (main.tf,
# variables.tf, outputs.tf, versions.tf) is the same file in both (scripts/lint-delivery.sh).

locals {
  environment = "production"

  aks = {
    sku_tier = "Standard" # uptime SLA
    zones    = ["1", "2", "3"]
    # CoreDNS, metrics-server, the CSI drivers: two nodes, one per zone at least.
    system_pool = { vm_size = "Standard_D2ds_v5", min_count = 2, max_count = 3 }
    # The four services at the production example's autoscaling limits, ingress-nginx, the jobs.
    user_pool = { vm_size = "Standard_D4ds_v5", min_count = 3, max_count = 9 }
  }

  postgres = {
    # General Purpose: HA needs it. 2 vCores give max_connections 859, above the 224 the
    # production example's pools can open (docs/deploy-aks.md, step 3).
    sku_name              = "GP_Standard_D2ds_v5"
    storage_mb            = 131072
    high_availability     = true
    backup_retention_days = 35
    geo_redundant_backup  = true
  }

  redis = {
    # Premium P1 (6 GB): zone-redundant replicas and RDB snapshots, so a restart of both nodes keeps
    # the streams.
    sku_name    = "Premium"
    capacity    = 1
    zones       = ["1", "2"]
    persistence = true
  }

  storage = {
    replication_type       = "GZRS"
    backup_retention_days  = 90
    archive_retention_days = 730
  }

  key_vault_purge_protection = true
  log_retention_days         = 90
}
