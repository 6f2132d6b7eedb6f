# tocsin's Prometheus rules (dashboards/rules/*.yml, the same files the chart's PrometheusRule is
# made of) turned into the shape of Azure Prometheus rule groups
# (azurerm_monitor_alert_prometheus_rule_group, in modules/managed-prometheus): Prometheus durations
# as ISO 8601, the rules' severity label as Azure's severity number, the job matchers rewritten to
# the release's Service names as the chart rewrites them. No provider and no resource: pure
# expressions, so scripts/lint-deploy runs it with `terraform apply` on this machine and checks
# that the groups agree with the PrometheusRule the chart renders.

locals {
  groups = flatten([for text in var.rule_files : yamldecode(text).groups])
  rules  = flatten([for group in local.groups : group.rules])

  # Azure takes an alert's severity as a number: 0 critical, 1 error, 2 warning, 3 informational,
  # 4 verbose.
  severities = { critical = 0, error = 1, warning = 2, info = 3, informational = 3 }

  # What an Azure rule can say; any other field of a Prometheus rule (keep_firing_for...) would be
  # lost, so it fails the plan instead.
  rule_fields = ["alert", "record", "expr", "for", "labels", "annotations"]

  azure_groups = {
    for group in local.groups : group.name => {
      # Prometheus's default evaluation interval when the group names none.
      interval = "PT${upper(try(group.interval, "1m"))}"
      rules = [
        for rule in group.rules : {
          alert  = try(rule.alert, null)
          record = try(rule.record, null)
          expression = replace(replace(rule.expr,
            "job=\"tocsin-", "job=\"${var.job_prefix}"),
          "job=~\"tocsin-", "job=~\"${var.job_prefix}")
          # 5m -> PT5M, 1h30m -> PT1H30M (only h, m and s: checked below).
          for         = can(rule.alert) ? "PT${upper(try(rule.for, "0s"))}" : null
          severity    = can(rule.alert) ? lookup(local.severities, try(rule.labels.severity, "warning"), 2) : null
          labels      = try(rule.labels, {})
          annotations = can(rule.alert) ? try(rule.annotations, {}) : null
        }
      ]
    }
  }
}
