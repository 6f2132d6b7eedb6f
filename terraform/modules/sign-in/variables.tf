variable "display_name" {
  description = "The app registration's name, as people see it on Entra ID's sign-in and consent pages."
  type        = string
}

variable "public_url" {
  description = "The dashboard's https address (query's PUBLIC_URL), without a trailing slash: the redirect URIs are <public_url>/auth/callback and <public_url>/."
  type        = string

  validation {
    condition     = startswith(var.public_url, "https://") && !endswith(var.public_url, "/")
    error_message = "public_url is an https:// address without a trailing slash."
  }
}

variable "allowed_principal_ids" {
  description = "Object ids of the groups (or users) who may sign in; the enterprise application requires an assignment, so nobody else can."
  type        = list(string)
}

variable "secret_rotation_days" {
  description = "Days after which Terraform replaces the client secret (at the next apply); the secret itself stays valid for twice as long, so a missed apply does not lock people out."
  type        = number
  default     = 180

  validation {
    condition     = var.secret_rotation_days >= 30 && var.secret_rotation_days <= 365
    error_message = "secret_rotation_days is 30 to 365."
  }
}
