output "registry_login_server" {
  description = "<name>.azurecr.io: the chart's image.registry, and the ACR_NAME of the workflows without the suffix."
  value       = azurerm_container_registry.this.login_server
}

output "registry_name" {
  description = "The registry's name (the workflows' ACR_NAME variable)."
  value       = azurerm_container_registry.this.name
}

output "dns_zone_name_servers" {
  description = "Name servers to delegate the zone to at your registrar."
  value       = azurerm_dns_zone.this.name_servers
}

output "release_workflow_variables" {
  description = "Variables of the GitHub environment `release` (Settings > Environments)."
  value = {
    AZURE_CLIENT_ID       = module.release_identity.client_id
    AZURE_TENANT_ID       = data.azurerm_client_config.current.tenant_id
    AZURE_SUBSCRIPTION_ID = var.subscription_id
    ACR_NAME              = azurerm_container_registry.this.name
  }
}
