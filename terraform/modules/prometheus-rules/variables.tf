variable "rule_files" {
  description = "The text of each Prometheus rule file (groups: [...]), e.g. of dashboards/rules/*.yml."
  type        = list(string)
}

variable "job_prefix" {
  description = "What the rules' job=\"tocsin-...\" matchers become: the chart's Service names, <fullname>-<service>, so \"tocsin-\" for a release named tocsin."
  type        = string
  default     = "tocsin-"
}
