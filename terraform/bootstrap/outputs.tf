output "backend_config" {
  description = "The settings of the environments' backend.hcl files (each adds its own key)."
  value = {
    resource_group_name  = azurerm_resource_group.this.name
    storage_account_name = azurerm_storage_account.this.name
    container_name       = azurerm_storage_container.tfstate.name
    use_azuread_auth     = true
  }
}
