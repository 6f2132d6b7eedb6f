# The same in every environment (scripts/lint-delivery.sh checks); values in terraform.tfvars.

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
  description = "Resource group of terraform/environments/shared (the registry and the DNS zone)."
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
