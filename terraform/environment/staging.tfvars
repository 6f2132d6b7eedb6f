# Staging: smaller and cheaper than production, no HA, so it can be torn down and rebuilt.
#   terraform init -reconfigure -backend-config=staging.backend.hcl
#   terraform apply -var-file=staging.tfvars
# Replace the names with yours. Nothing here is secret.

environment                = "staging"
subscription_id            = "00000000-0000-0000-0000-000000000000"
location                   = "westeurope"
name                       = "tocsin-staging"
address_space              = "10.30.0.0/16"
kubernetes_version         = null # pin it: az aks get-versions --location westeurope
aks_admin_group_object_ids = ["00000000-0000-0000-0000-000000000000"]
registry_name              = "tocsinregistry"
dns_zone_name              = "example.com"
dns_record_name            = "tocsin-staging"
github_repository          = "tocsin-oncall/tocsin"

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
  # Azure Managed Redis Balanced B1 (1 GB): a replica, no persistence.
  sku_name    = "Balanced_B1"
  persistence = "none"
}

storage = {
  replication_type       = "LRS"
  backup_retention_days  = 14
  archive_retention_days = 90
}

# Off, so that staging can be destroyed and recreated under the same names.
key_vault_purge_protection = false
log_retention_days         = 30
