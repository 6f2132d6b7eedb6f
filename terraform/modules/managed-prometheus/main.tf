# Azure Monitor managed Prometheus for one AKS cluster: an Azure Monitor workspace, the data
# collection endpoint and rule that send the cluster's metrics collector (ama-metrics, switched on
# by the aks module's managed_prometheus) to it, and tocsin's rules as Azure Prometheus rule
# groups. The rules are dashboards/rules/*.yml, read by modules/prometheus-rules: the same files
# as the chart's PrometheusRule, so the two cannot drift (scripts/lint-deploy checks that they
# agree). The chart's ServiceMonitors (monitoring.api azureManagedPrometheus, group
# azmonitoring.coreos.com/v1) tell ama-metrics what to scrape.

module "rules" {
  source = "../prometheus-rules"

  rule_files = var.rule_files
  job_prefix = "${var.release_name}-"
}

resource "azurerm_monitor_workspace" "this" {
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_monitor_data_collection_endpoint" "this" {
  name                = "${var.name}-prometheus"
  location            = var.location
  resource_group_name = var.resource_group_name
  kind                = "Linux"
  tags                = var.tags
}

# The names ama-metrics's own onboarding uses (MSProm-<region>-<cluster>).
resource "azurerm_monitor_data_collection_rule" "this" {
  name                        = "MSProm-${var.location}-${var.cluster_name}"
  location                    = var.location
  resource_group_name         = var.resource_group_name
  data_collection_endpoint_id = azurerm_monitor_data_collection_endpoint.this.id
  kind                        = "Linux"
  tags                        = var.tags

  destinations {
    monitor_account {
      monitor_account_id = azurerm_monitor_workspace.this.id
      name               = "MonitoringAccount1"
    }
  }

  data_flow {
    streams      = ["Microsoft-PrometheusMetrics"]
    destinations = ["MonitoringAccount1"]
  }

  data_sources {
    prometheus_forwarder {
      streams = ["Microsoft-PrometheusMetrics"]
      name    = "PrometheusDataSource"
    }
  }
}

resource "azurerm_monitor_data_collection_rule_association" "this" {
  name                    = "MSProm-${var.location}-${var.cluster_name}"
  target_resource_id      = var.cluster_id
  data_collection_rule_id = azurerm_monitor_data_collection_rule.this.id
}

resource "azurerm_monitor_alert_prometheus_rule_group" "this" {
  for_each = module.rules.groups

  name                = "${var.name}-${each.key}"
  location            = var.location
  resource_group_name = var.resource_group_name
  cluster_name        = var.cluster_name
  rule_group_enabled  = true
  interval            = each.value.interval
  scopes              = [azurerm_monitor_workspace.this.id, var.cluster_id]
  tags                = var.tags

  dynamic "rule" {
    for_each = each.value.rules
    content {
      enabled     = true
      alert       = rule.value.alert
      record      = rule.value.record
      expression  = rule.value.expression
      for         = rule.value.for
      severity    = rule.value.severity
      labels      = rule.value.labels
      annotations = rule.value.annotations

      # Alerts go to the action group when one is given; recording rules have no action.
      dynamic "action" {
        for_each = rule.value.alert != null && var.action_group_id != null ? [var.action_group_id] : []
        content {
          action_group_id = action.value
        }
      }
    }
  }
}
