output "client_id" {
  description = "The application (client) id: query's OIDC_CLIENT_ID, the chart's query.signIn.clientId."
  value       = azuread_application.this.client_id
}

output "issuer_url" {
  description = "The tenant's OpenID Connect issuer: query's OIDC_ISSUER_URL, the chart's query.signIn.issuerUrl."
  value       = "https://login.microsoftonline.com/${data.azuread_client_config.current.tenant_id}/v2.0"
}

output "client_secret" {
  description = "The current client secret: query's OIDC_CLIENT_SECRET."
  value       = azuread_application_password.query.value
  sensitive   = true
}
