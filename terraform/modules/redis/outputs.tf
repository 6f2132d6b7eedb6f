output "id" {
  description = "ID of the cache."
  value       = azurerm_redis_cache.this.id
}

output "hostname" {
  description = "Host name of the cache (resolves to the private endpoint inside the VNet)."
  value       = azurerm_redis_cache.this.hostname
}

output "ssl_port" {
  description = "The TLS port (6380); the plain port is off."
  value       = azurerm_redis_cache.this.ssl_port
}

# rediss:// with the access key percent-encoded (keys contain /, + and =), database 0: the
# services' REDIS_URL.
output "url" {
  description = "REDIS_URL for the services."
  value       = "rediss://:${urlencode(azurerm_redis_cache.this.primary_access_key)}@${azurerm_redis_cache.this.hostname}:${azurerm_redis_cache.this.ssl_port}/0"
  sensitive   = true
}
