output "groups" {
  description = "Rule group name -> {interval, rules: [{alert, record, expression, for, severity, labels, annotations}]}, as azurerm_monitor_alert_prometheus_rule_group takes them."
  value       = local.azure_groups

  precondition {
    condition = alltrue([
      for duration in concat([for rule in local.rules : try(rule.for, "0s")], [for group in local.groups : try(group.interval, "1m")]) :
      can(regex("^([0-9]+h)?([0-9]+m)?([0-9]+s)?$", duration)) && duration != ""
    ])
    error_message = "A rule's for or a group's interval uses a unit other than h, m and s, which this module cannot turn into an ISO 8601 duration for Azure: write it in hours, minutes and seconds (1d is 24h)."
  }

  precondition {
    condition     = alltrue([for rule in local.rules : length(setsubtract(keys(rule), local.rule_fields)) == 0])
    error_message = "A rule has a field Azure Prometheus rule groups cannot express (only alert, record, expr, for, labels and annotations)."
  }
}
