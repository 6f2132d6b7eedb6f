# One tocsin environment: the network, AKS, PostgreSQL, Redis, the backup/archive storage, Key Vault
# with the services' credentials, Log Analytics, the workload identity of the chart's
# ServiceAccounts, the deploy workflow's identity and the DNS record. The registry and the DNS zone
# come from terraform/shared.
#
# Staging and production are this one composition with a state and a tfvars file each
# (staging.tfvars, production.tfvars): what differs between them is values, never code.

data "azurerm_client_config" "current" {}

data "azurerm_container_registry" "shared" {
  name                = var.registry_name
  resource_group_name = var.shared_resource_group_name
}

data "azurerm_dns_zone" "shared" {
  name                = var.dns_zone_name
  resource_group_name = var.shared_resource_group_name
}

locals {
  tags = merge(var.tags, { env = var.environment })
  host = "${var.dns_record_name}.${var.dns_zone_name}"
  # The Gateway of the gateway_manifest output, which the chart's HTTPRoutes attach to.
  gateway = { name = "tocsin", namespace = "tocsin-gateway" }
  # tocsin's Prometheus rules, shared with the chart (which keeps a copy in its files/rules).
  rules_dir = "${path.module}/../../dashboards/rules"
  # Globally unique names (storage accounts, Key Vault, PostgreSQL, Redis) get a suffix of their own.
  compact = replace(var.name, "-", "")
  # The chart's ServiceAccounts: one per service, the migration Job's, the backup and archive jobs'.
  service_accounts = [
    for component in ["ingest", "incident-core", "query", "notifier", "migrate", "backup", "archive"] :
    "${var.release_name}-${component}"
  ]
}

# One state per environment, and the tfvars file must be the one of the state's environment: a plan
# with production.tfvars against the staging state (or the reverse) would replace this resource,
# which prevent_destroy refuses, before anything else is touched.
resource "terraform_data" "environment_guard" {
  triggers_replace = var.environment

  lifecycle {
    prevent_destroy = true
  }
}

resource "random_string" "suffix" {
  length  = 5
  upper   = false
  special = false
}

resource "azurerm_resource_group" "this" {
  name     = var.name
  location = var.location
  tags     = local.tags
}

resource "azurerm_log_analytics_workspace" "this" {
  name                = "${var.name}-logs"
  location            = var.location
  resource_group_name = azurerm_resource_group.this.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

module "network" {
  source = "../modules/network"

  name                = var.name
  location            = var.location
  resource_group_name = azurerm_resource_group.this.name
  address_space       = var.address_space
  tags                = local.tags
}

module "aks" {
  source = "../modules/aks"

  name                            = var.name
  location                        = var.location
  resource_group_name             = azurerm_resource_group.this.name
  kubernetes_version              = var.kubernetes_version
  sku_tier                        = var.aks.sku_tier
  zones                           = var.aks.zones
  nodes_subnet_id                 = module.network.nodes_subnet_id
  system_pool                     = var.aks.system_pool
  user_pool                       = var.aks.user_pool
  admin_group_object_ids          = var.aks_admin_group_object_ids
  api_server_authorized_ip_ranges = var.api_server_authorized_ip_ranges
  log_analytics_workspace_id      = azurerm_log_analytics_workspace.this.id
  acr_id                          = data.azurerm_container_registry.shared.id
  managed_prometheus              = var.managed_prometheus.enabled
  tags                            = local.tags
}

# tocsin's Prometheus rules as Azure Prometheus rule groups, read from dashboards/rules, the files
# the chart's PrometheusRule is made of (docs/deploy-aks.md, "Azure Monitor managed Prometheus").
module "managed_prometheus" {
  source = "../modules/managed-prometheus"
  count  = var.managed_prometheus.enabled ? 1 : 0

  name                = "${var.name}-prometheus"
  location            = var.location
  resource_group_name = azurerm_resource_group.this.name
  cluster_id          = module.aks.id
  cluster_name        = module.aks.name
  release_name        = var.release_name
  rule_files          = [for file in sort(fileset(local.rules_dir, "*.yml")) : file("${local.rules_dir}/${file}")]
  action_group_id     = var.managed_prometheus.action_group_id
  tags                = local.tags
}

module "postgres" {
  source = "../modules/postgres"

  name                       = "${var.name}-${random_string.suffix.result}"
  location                   = var.location
  resource_group_name        = azurerm_resource_group.this.name
  subnet_id                  = module.network.postgres_subnet_id
  private_dns_zone_id        = module.network.postgres_private_dns_zone_id
  sku_name                   = var.postgres.sku_name
  storage_mb                 = var.postgres.storage_mb
  high_availability          = var.postgres.high_availability
  backup_retention_days      = var.postgres.backup_retention_days
  geo_redundant_backup       = var.postgres.geo_redundant_backup
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id
  tags                       = local.tags
}

# Azure Managed Redis (Redis 7.4): Azure Cache for Redis serves Redis 6.0, older than the 6.2 the
# bus needs (terraform/modules/redis/main.tf).
module "redis" {
  source = "../modules/redis"

  name                       = "${var.name}-${random_string.suffix.result}"
  location                   = var.location
  resource_group_name        = azurerm_resource_group.this.name
  sku_name                   = var.redis.sku_name
  persistence                = var.redis.persistence
  private_endpoint_subnet_id = module.network.private_endpoints_subnet_id
  private_dns_zone_id        = module.network.redis_private_dns_zone_id
  tags                       = local.tags
}

module "storage" {
  source = "../modules/storage"

  name                   = substr("${local.compact}bak${random_string.suffix.result}", 0, 24)
  location               = var.location
  resource_group_name    = azurerm_resource_group.this.name
  replication_type       = var.storage.replication_type
  backup_retention_days  = var.storage.backup_retention_days
  archive_retention_days = var.storage.archive_retention_days
  tags                   = local.tags
}

# The tocsin ServiceAccounts act as this identity (the chart's workloadIdentity.clientId): they may
# read the vault's secrets and write database dumps and archives.
module "workload_identity" {
  source = "../modules/federated-identity"

  name                = "${var.name}-workload"
  location            = var.location
  resource_group_name = azurerm_resource_group.this.name
  issuer              = module.aks.oidc_issuer_url
  subjects = {
    for sa in local.service_accounts : sa => "system:serviceaccount:${var.namespace}:${sa}"
  }
  role_assignments = {
    backups  = { scope = module.storage.container_ids["backups"], role = "Storage Blob Data Contributor" }
    archives = { scope = module.storage.container_ids["archives"], role = "Storage Blob Data Contributor" }
  }
  tags = local.tags
}

resource "random_password" "ingest_token" {
  length  = 48
  special = false
}

resource "random_password" "api_token" {
  length  = 48
  special = false
}

# The values of the chart's credentials Secret (docs/deploy-aks.md, "The credentials Secret"), to be
# copied into the cluster or mounted with the Key Vault CSI driver (terraform/README.md). The Slack
# keys are added by hand: they come from the Slack app, not from Azure.
module "key_vault" {
  source = "../modules/keyvault"

  name                       = substr("${var.name}-kv-${random_string.suffix.result}", 0, 24)
  location                   = var.location
  resource_group_name        = azurerm_resource_group.this.name
  purge_protection_enabled   = var.key_vault_purge_protection
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id
  readers = {
    workload = module.workload_identity.principal_id
  }
  secrets = merge({
    database-url            = "postgres://tocsin:${module.postgres.app_password}@${module.postgres.fqdn}:5432/${module.postgres.database_name}?sslmode=require"
    database-admin-password = module.postgres.administrator_password
    database-app-password   = module.postgres.app_password
    redis-url               = module.redis.url
    ingest-token            = random_password.ingest_token.result
    api-token               = random_password.api_token.result
    }, length(module.sign_in) > 0 ? {
    oidc-client-secret = module.sign_in[0].client_secret
  } : {})
  tags = local.tags
}

# Sign-in with Entra ID (docs/sign-in.md): the app registration query is a confidential client of,
# with its secret in the vault; only when groups are allowed to sign in.
module "sign_in" {
  source = "../modules/sign-in"
  count  = length(var.sign_in_allowed_group_ids) > 0 ? 1 : 0

  display_name          = "tocsin (${var.environment})"
  public_url            = "https://${local.host}"
  allowed_principal_ids = var.sign_in_allowed_group_ids
}

# .github/workflows/deploy.yml logs in as this identity from the GitHub environment named like
# this one: it may read the cluster's user credentials, administer the tocsin namespace (Azure
# RBAC for Kubernetes) and pull the chart from the registry.
module "deploy_identity" {
  source = "../modules/federated-identity"

  name                = "${var.name}-github-deploy"
  location            = var.location
  resource_group_name = azurerm_resource_group.this.name
  issuer              = "https://token.actions.githubusercontent.com"
  subjects = {
    "github-${var.environment}" = "repo:${var.github_repository}:environment:${var.environment}"
  }
  role_assignments = {
    cluster-user = {
      scope = module.aks.id
      role  = "Azure Kubernetes Service Cluster User Role"
    }
    namespace-admin = {
      scope = "${module.aks.id}/namespaces/${var.namespace}"
      role  = "Azure Kubernetes Service RBAC Admin"
    }
    chart-pull = {
      scope = data.azurerm_container_registry.shared.id
      role  = "AcrPull"
    }
  }
  tags = local.tags
}

resource "azurerm_dns_a_record" "this" {
  name                = var.dns_record_name
  zone_name           = data.azurerm_dns_zone.shared.name
  resource_group_name = var.shared_resource_group_name
  ttl                 = 300
  target_resource_id  = module.aks.ingress_public_ip_id
  tags                = local.tags
}
