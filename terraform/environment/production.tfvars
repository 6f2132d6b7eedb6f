# Production: HA database, zone-redundant Redis with persistence, the uptime SLA, long retention.
#   terraform init -reconfigure -backend-config=production.backend.hcl
#   terraform apply -var-file=production.tfvars
# Replace the names with yours. Nothing here is secret.

environment                = "production"
subscription_id            = "00000000-0000-0000-0000-000000000000"
location                   = "westeurope"
name                       = "tocsin-prod"
address_space              = "10.20.0.0/16"
kubernetes_version         = null # pin it: az aks get-versions --location westeurope
aks_admin_group_object_ids = ["00000000-0000-0000-0000-000000000000"]
registry_name              = "tocsinregistry"
dns_zone_name              = "example.com"
dns_record_name            = "tocsin"
github_repository          = "tocsin-oncall/tocsin"

aks = {
  sku_tier = "Standard" # uptime SLA
  zones    = ["1", "2", "3"]
  # CoreDNS, metrics-server, the CSI drivers: two nodes, one per zone at least.
  system_pool = { vm_size = "Standard_D2ds_v5", min_count = 2, max_count = 3 }
  # The four services at the production example's autoscaling limits, the Gateway's proxies, the jobs.
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
  # Azure Managed Redis Balanced B5 (6 GB), its replica in another zone. AOF persistence: every
  # write is logged once a second, so losing both nodes loses about a second of the streams, not
  # the hour an RDB snapshot would (docs/reliability.md, "Redis failover").
  sku_name    = "Balanced_B5"
  persistence = "aof"
}

storage = {
  replication_type       = "GZRS"
  backup_retention_days  = 90
  archive_retention_days = 730
}

key_vault_purge_protection = true
log_retention_days         = 90
