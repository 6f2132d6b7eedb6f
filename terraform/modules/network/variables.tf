variable "name" {
  description = "Name of the virtual network; also the prefix of its subnets' and private DNS links' names."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the network and its private DNS zones."
  type        = string
}

variable "address_space" {
  description = <<-EOT
    The VNet's /16. Subnets are cut from it: nodes (the first /23), PostgreSQL (the third /24,
    delegated) and private endpoints (the fourth /24). Pods and Services get overlay ranges
    outside the VNet (see the aks module).
  EOT
  type        = string

  validation {
    condition     = can(cidrhost(var.address_space, 0)) && endswith(var.address_space, "/16")
    error_message = "address_space must be an IPv4 /16, e.g. 10.20.0.0/16."
  }
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
