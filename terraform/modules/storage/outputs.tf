output "id" {
  description = "ID of the storage account."
  value       = azurerm_storage_account.this.id
}

output "name" {
  description = "Name of the storage account."
  value       = azurerm_storage_account.this.name
}

output "blob_endpoint" {
  description = "https://<name>.blob.core.windows.net/"
  value       = azurerm_storage_account.this.primary_blob_endpoint
}

output "container_ids" {
  description = "Resource Manager IDs of the backups and archives containers (role assignment scopes)."
  value       = { for name, container in azurerm_storage_container.this : name => container.id }
}
