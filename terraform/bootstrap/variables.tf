variable "subscription_id" {
  description = "Azure subscription of the state."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the state storage account."
  type        = string
  default     = "tocsin-tfstate"
}

variable "storage_account_name" {
  description = "State storage account name (globally unique, 3-24 lower-case letters and digits); the backend.hcl files name it."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.storage_account_name))
    error_message = "A storage account name is 3-24 lower-case letters and digits."
  }
}

variable "state_writers" {
  description = "Principal IDs (besides the one running this) that may read and write state: people, CI identities."
  type        = map(string)
  default     = {}
}
