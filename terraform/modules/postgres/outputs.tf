output "id" {
  description = "ID of the server."
  value       = azurerm_postgresql_flexible_server.this.id
}

output "fqdn" {
  description = "Host name of the server (resolves to its private address inside the VNet)."
  value       = azurerm_postgresql_flexible_server.this.fqdn
}

output "database_name" {
  description = "The application database."
  value       = azurerm_postgresql_flexible_server_database.this.name
}

output "administrator_login" {
  description = "The server admin."
  value       = azurerm_postgresql_flexible_server.this.administrator_login
}

output "administrator_password" {
  description = "The server admin's password."
  value       = random_password.admin.result
  sensitive   = true
}

output "app_password" {
  description = "Password of the application role `tocsin`, which is created with SQL (README.md)."
  value       = random_password.app.result
  sensitive   = true
}
