variable "name" {
  description = "Name of the Azure Monitor workspace, and prefix of the data collection endpoint and rule groups."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the workspace, the data collection objects and the rule groups."
  type        = string
}

variable "cluster_id" {
  description = "The AKS cluster whose metrics are collected and whose rules are evaluated."
  type        = string
}

variable "cluster_name" {
  description = "The AKS cluster's name (the rule groups' cluster_name)."
  type        = string
}

variable "release_name" {
  description = "The chart's fullname (<release>-tocsin, or the release name when it contains tocsin): the rules' job matchers become <release_name>-<service>."
  type        = string
}

variable "rule_files" {
  description = "The text of each Prometheus rule file: dashboards/rules/*.yml."
  type        = list(string)
}

variable "action_group_id" {
  description = "Azure Monitor action group the alerts notify; null: the alerts fire in Azure Monitor only."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
}
