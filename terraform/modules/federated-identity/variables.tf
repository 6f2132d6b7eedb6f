variable "name" {
  description = "Name of the user-assigned managed identity."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the identity."
  type        = string
}

variable "issuer" {
  description = "OIDC issuer whose tokens the identity accepts: an AKS cluster's oidc_issuer_url, or https://token.actions.githubusercontent.com."
  type        = string
}

variable "subjects" {
  description = <<-EOT
    Federated credentials, credential name => token subject, e.g.
    "tocsin-query" => "system:serviceaccount:tocsin:tocsin-query" (AKS), or
    "github-production" => "repo:OWNER/REPO:environment:production" (GitHub Actions).
  EOT
  type        = map(string)
}

variable "role_assignments" {
  description = "Roles of the identity, name => { scope, role } (role: a built-in role's name)."
  type = map(object({
    scope = string
    role  = string
  }))
  default = {}
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
