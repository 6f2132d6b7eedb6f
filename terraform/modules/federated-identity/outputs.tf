output "id" {
  description = "ID of the identity."
  value       = azurerm_user_assigned_identity.this.id
}

output "client_id" {
  description = "Client ID (the chart's workloadIdentity.clientId, or a workflow's AZURE_CLIENT_ID)."
  value       = azurerm_user_assigned_identity.this.client_id
}

output "principal_id" {
  description = "Object ID of the identity's service principal."
  value       = azurerm_user_assigned_identity.this.principal_id
}
