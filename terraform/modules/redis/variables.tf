variable "name" {
  description = "Cache name (globally unique: <name>.redis.cache.windows.net)."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the cache and its private endpoint."
  type        = string
}

variable "sku_name" {
  description = "Standard (a replica, no zones or persistence) or Premium (zones, persistence)."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Standard", "Premium"], var.sku_name)
    error_message = "sku_name must be Standard or Premium (Basic has no replica: a restart loses the streams)."
  }
}

variable "capacity" {
  description = "Size within the SKU: C0-C6 for Standard, P1-P5 for Premium. Size it for STREAM_MAX_AGE of alerts and events."
  type        = number
  default     = 1
}

variable "zones" {
  description = "Zones of the Premium cache's nodes ([] for none). Ignored on Standard."
  type        = list(string)
  default     = []
}

variable "persistence" {
  description = <<-EOT
    RDB snapshots to a storage account of the cache's own (Premium only), so a restart of both
    nodes does not lose the streams. The snapshot account uses an access key: Azure Cache for
    Redis writes RDB files with a connection string.
  EOT
  type        = bool
  default     = false
}

variable "persistence_storage_account_name" {
  description = "Name of the snapshot storage account (globally unique, 3-24 lower-case letters and digits) when persistence is on."
  type        = string
  default     = null
}

variable "private_endpoint_subnet_id" {
  description = "Subnet of the private endpoint."
  type        = string
}

variable "private_dns_zone_id" {
  description = "privatelink.redis.cache.windows.net, linked to the VNet."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
