variable "name" {
  description = "Key Vault name (globally unique, 3-24 letters, digits and dashes)."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the vault."
  type        = string
}

variable "purge_protection_enabled" {
  description = "A deleted vault or secret cannot be purged before its retention ends (production: on; it cannot be turned off)."
  type        = bool
  default     = true
}

variable "allowed_ip_ranges" {
  description = "Public CIDRs allowed to reach the vault besides trusted Azure services; [] allows any (RBAC still applies)."
  type        = list(string)
  default     = []
}

variable "secrets" {
  description = "Secrets to store, name => value (names: letters, digits and dashes)."
  type        = map(string)
  sensitive   = true
}

variable "readers" {
  description = "Principal IDs granted \"Key Vault Secrets User\" (read secret values), name => principal ID."
  type        = map(string)
  default     = {}
}

variable "log_analytics_workspace_id" {
  description = "Workspace the vault's audit log goes to."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
