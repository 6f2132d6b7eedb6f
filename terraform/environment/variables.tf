# One environment's inputs: its names and sizes are in <environment>.tfvars.

variable "subscription_id" {
  description = "Azure subscription of the environment."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "name" {
  description = "Prefix of the environment's resource names, e.g. tocsin-prod (lower-case letters, digits, dashes)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,15}$", var.name))
    error_message = "name must be 3-16 lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "address_space" {
  description = "The environment's VNet, a /16 (the chart's NetworkPolicy CIDRs are cut from it)."
  type        = string
}

variable "kubernetes_version" {
  description = "AKS minor version, e.g. \"1.34\"; null: the AKS default at creation. Pin it."
  type        = string
  default     = null
}

variable "aks_admin_group_object_ids" {
  description = "Entra ID groups whose members administer the cluster."
  type        = list(string)
}

variable "api_server_authorized_ip_ranges" {
  description = "CIDRs allowed to reach the API server; [] (default) keeps it reachable for GitHub-hosted runners, behind Entra ID."
  type        = list(string)
  default     = []
}

variable "shared_resource_group_name" {
  description = "Resource group of terraform/shared (the registry and the DNS zone)."
  type        = string
  default     = "tocsin-shared"
}

variable "registry_name" {
  description = "The shared container registry's name."
  type        = string
}

variable "dns_zone_name" {
  description = "The shared public DNS zone."
  type        = string
}

variable "dns_record_name" {
  description = "The environment's host name in the zone: \"tocsin\" gives tocsin.<zone>."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository (OWNER/NAME) whose deploy workflow installs the chart, from the GitHub environment of the same name as this one."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the tocsin release."
  type        = string
  default     = "tocsin"
}

variable "cluster_issuer" {
  description = "cert-manager ClusterIssuer that issues the Gateway listener's certificate (gateway_manifest)."
  type        = string
  default     = "letsencrypt-prod"
}

variable "release_name" {
  description = "Helm release name; the chart names its ServiceAccounts <release>-<service>."
  type        = string
  default     = "tocsin"
}

variable "tags" {
  description = "Tags on every resource, besides env."
  type        = map(string)
  default     = { app = "tocsin" }
}

# What makes one environment differ from another: sizes, high availability, retention. Staging is
# smaller and can be torn down and rebuilt; production has HA and longer retention.

variable "environment" {
  description = "The environment's name (staging, production): the env tag, and the GitHub environment the deploy workflow's identity is federated with."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be 2-21 lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "aks" {
  description = "AKS: the control plane's tier (Free, or Standard for the uptime SLA), the zones, and the two node pools' VM size and autoscaling limits."
  type = object({
    sku_tier    = string
    zones       = list(string)
    system_pool = object({ vm_size = string, min_count = number, max_count = number })
    user_pool   = object({ vm_size = string, min_count = number, max_count = number })
  })

  validation {
    condition     = contains(["Free", "Standard"], var.aks.sku_tier)
    error_message = "aks.sku_tier must be Free or Standard."
  }
}

variable "postgres" {
  description = "PostgreSQL Flexible Server: SKU, storage, zone-redundant high availability (needs a General Purpose or Memory Optimized SKU) and backups."
  type = object({
    sku_name              = string
    storage_mb            = number
    high_availability     = bool
    backup_retention_days = number
    geo_redundant_backup  = bool
  })

  validation {
    condition     = !var.postgres.high_availability || !startswith(var.postgres.sku_name, "B_")
    error_message = "postgres.high_availability needs a General Purpose (GP_) or Memory Optimized (MO_) SKU, not a Burstable (B_) one."
  }
}

variable "redis" {
  description = "Azure Managed Redis: the SKU (a non-clustered one, 24 GB or less, e.g. Balanced_B1) and the persistence: aof, rdb or none (terraform/modules/redis)."
  type = object({
    sku_name    = string
    persistence = string
  })

  validation {
    condition     = contains(["aof", "rdb", "none"], var.redis.persistence)
    error_message = "redis.persistence must be aof, rdb or none."
  }
}

variable "storage" {
  description = "The backup and archive storage account: its replication, and how long the lifecycle rule keeps backups and archives."
  type = object({
    replication_type       = string
    backup_retention_days  = number
    archive_retention_days = number
  })
}

variable "key_vault_purge_protection" {
  description = "Purge protection on the Key Vault: on in production; off where the environment is destroyed and recreated under the same names."
  type        = bool
}

variable "log_retention_days" {
  description = "Log Analytics retention."
  type        = number
}

variable "sign_in_allowed_group_ids" {
  description = "Object ids of the Entra ID groups whose members may sign in to the dashboard (docs/sign-in.md). Empty: no app registration, sign-in stays off and people use API tokens."
  type        = list(string)
  default     = []
}

variable "managed_prometheus" {
  description = "Azure Monitor managed Prometheus: a workspace the cluster's metrics go to, and tocsin's rules (dashboards/rules) as Azure Prometheus rule groups; install the chart with monitoring.api azureManagedPrometheus. action_group_id: the Azure Monitor action group the alerts notify (null: none)."
  type = object({
    enabled         = bool
    action_group_id = optional(string)
  })
  default = { enabled = false }
}
