output "id" {
  description = "ID of the vault."
  value       = azurerm_key_vault.this.id
}

output "name" {
  description = "Name of the vault."
  value       = azurerm_key_vault.this.name
}

output "uri" {
  description = "https://<name>.vault.azure.net/"
  value       = azurerm_key_vault.this.vault_uri
}

output "secret_names" {
  description = "Names of the secrets Terraform keeps in the vault."
  value       = sort(keys(azurerm_key_vault_secret.this))
}
