variable "name" {
  description = "Storage account name (globally unique, 3-24 lower-case letters and digits)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.name))
    error_message = "A storage account name is 3-24 lower-case letters and digits."
  }
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the account."
  type        = string
}

variable "replication_type" {
  description = "LRS, ZRS, GRS or GZRS. Backups of production want a copy outside the zone (ZRS) or region (GZRS)."
  type        = string
  default     = "ZRS"
}

variable "backup_retention_days" {
  description = "Days a database dump in the backups container is kept (moved to the cool tier after 7)."
  type        = number
  default     = 35
}

variable "archive_retention_days" {
  description = "Days an archived incident export is kept (cool after 30; archive tier after 90 on LRS, GRS and RA-GRS accounts)."
  type        = number
  default     = 730
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
