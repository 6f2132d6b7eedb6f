variable "name" {
  description = "Server name (globally unique: <name>.postgres.database.azure.com)."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the server."
  type        = string
}

variable "subnet_id" {
  description = "Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers."
  type        = string
}

variable "private_dns_zone_id" {
  description = "Private DNS zone (…postgres.database.azure.com) linked to the VNet."
  type        = string
}

variable "postgres_version" {
  description = "PostgreSQL major version. 16 is the newest Azure offers TimescaleDB on."
  type        = string
  default     = "16"
}

variable "sku_name" {
  description = "Compute, e.g. B_Standard_B2ms (Burstable: no high availability) or GP_Standard_D2ds_v5."
  type        = string
}

variable "storage_mb" {
  description = "Storage in MiB (32768, 65536, 131072, …); it grows by itself when nearly full."
  type        = number
  default     = 32768
}

variable "zone" {
  description = "Availability zone of the primary; null in a region without zones."
  type        = string
  default     = "1"
}

variable "high_availability" {
  description = "A zone-redundant standby with automatic failover (not on Burstable SKUs)."
  type        = bool
  default     = false
}

variable "standby_zone" {
  description = "Zone of the standby when high_availability is on."
  type        = string
  default     = "2"
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time restore), 7 to 35."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}

variable "geo_redundant_backup" {
  description = "Copy the backups to the paired region (set at creation only)."
  type        = bool
  default     = false
}

variable "database_name" {
  description = "The application database."
  type        = string
  default     = "tocsin"
}

variable "administrator_login" {
  description = "The server admin (used once to create the application role; see terraform/README.md)."
  type        = string
  default     = "tocsinadmin"
}

variable "log_analytics_workspace_id" {
  description = "Workspace the server's logs go to."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
