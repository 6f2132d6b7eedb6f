output "workspace_id" {
  description = "The Azure Monitor workspace (a Grafana data source, or the query endpoint's resource)."
  value       = azurerm_monitor_workspace.this.id
}

output "query_endpoint" {
  description = "The workspace's PromQL endpoint."
  value       = azurerm_monitor_workspace.this.query_endpoint
}

output "rule_groups" {
  description = "The names of the Azure Prometheus rule groups made from dashboards/rules."
  value       = [for group in azurerm_monitor_alert_prometheus_rule_group.this : group.name]
}
