variable "name" {
  description = "Instance name (globally unique: <name>.<region>.redis.azure.net)."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the instance and its private endpoint."
  type        = string
}

variable "sku_name" {
  description = <<-EOT
    Azure Managed Redis SKU: its tier and memory, e.g. Balanced_B1 (1 GB) or Balanced_B5 (6 GB). Size it
    for STREAM_MAX_AGE of alerts and events; about a fifth of it is reserved by Azure. Only the
    SKUs of 24 GB or less can be non-clustered, which the bus needs (main.tf).
  EOT
  type        = string
  default     = "Balanced_B1"

  validation {
    condition     = can(regex("^(Balanced_B(0|1|3|5|10|20)|MemoryOptimized_M(10|20)|ComputeOptimized_X(3|5|10|20))$", var.sku_name))
    error_message = "sku_name must be a non-clustered Azure Managed Redis SKU of 24 GB or less: Balanced_B0/B1/B3/B5/B10/B20, MemoryOptimized_M10/M20 or ComputeOptimized_X3/X5/X10/X20."
  }
}

variable "persistence" {
  description = "What survives losing both nodes: \"aof\" (every write, logged once a second), \"rdb\" (a snapshot every hour) or \"none\"."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["aof", "rdb", "none"], var.persistence)
    error_message = "persistence must be aof, rdb or none."
  }
}

variable "private_endpoint_subnet_id" {
  description = "Subnet of the private endpoint."
  type        = string
}

variable "private_dns_zone_id" {
  description = "privatelink.redis.azure.net, linked to the VNet."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
