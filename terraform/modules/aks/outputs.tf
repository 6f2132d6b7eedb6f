output "id" {
  description = "ID of the cluster (scope of the deploy identity's role assignments)."
  value       = azurerm_kubernetes_cluster.this.id
}

output "name" {
  description = "Name of the cluster."
  value       = azurerm_kubernetes_cluster.this.name
}

output "oidc_issuer_url" {
  description = "Issuer of the ServiceAccount tokens, for the federated credentials."
  value       = azurerm_kubernetes_cluster.this.oidc_issuer_url
}

output "node_resource_group" {
  description = "Resource group AKS manages for the nodes."
  value       = azurerm_kubernetes_cluster.this.node_resource_group
}

output "ingress_public_ip_id" {
  description = "ID of the ingress's static public IP (target of the DNS record)."
  value       = azurerm_public_ip.ingress.id
}

output "ingress_public_ip_name" {
  description = "Name of the ingress's static public IP (the azure-pip-name annotation of the Gateway's Service)."
  value       = azurerm_public_ip.ingress.name
}

output "ingress_public_ip_address" {
  description = "The ingress's address (Alertmanager and Slack reach tocsin here)."
  value       = azurerm_public_ip.ingress.ip_address
}
