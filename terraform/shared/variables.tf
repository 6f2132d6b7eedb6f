variable "subscription_id" {
  description = "Azure subscription of the shared resources."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the shared resources (the environments look the registry and the DNS zone up in it)."
  type        = string
  default     = "tocsin-shared"
}

variable "registry_name" {
  description = "Azure Container Registry name (globally unique, 5-50 letters and digits): <name>.azurecr.io."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9]{5,50}$", var.registry_name))
    error_message = "A registry name is 5-50 letters and digits."
  }
}

variable "registry_sku" {
  description = "Standard, or Premium for geo-replication, zone redundancy and private endpoints."
  type        = string
  default     = "Standard"
}

variable "dns_zone_name" {
  description = "Public DNS zone the environments put their host names in, e.g. example.com (delegate it from your registrar to the zone's name servers)."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository (OWNER/NAME) whose release workflow pushes images and charts, through its `release` environment."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = { app = "tocsin" }
}
