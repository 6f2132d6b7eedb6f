output "id" {
  description = "ID of the Azure Managed Redis instance."
  value       = azurerm_managed_redis.this.id
}

output "hostname" {
  description = "Host name of the instance, <name>.<region>.redis.azure.net (resolves to the private endpoint inside the VNet)."
  value       = azurerm_managed_redis.this.hostname
}

output "port" {
  description = "The database's TLS port (10000)."
  value       = azurerm_managed_redis.this.default_database[0].port
}

# rediss:// (TLS) with the access key percent-encoded (keys contain /, + and =), database 0 (the
# only one Azure Managed Redis has): the services' REDIS_URL.
output "url" {
  description = "REDIS_URL for the services."
  value       = "rediss://:${urlencode(azurerm_managed_redis.this.default_database[0].primary_access_key)}@${azurerm_managed_redis.this.hostname}:${azurerm_managed_redis.this.default_database[0].port}/0"
  sensitive   = true
}
