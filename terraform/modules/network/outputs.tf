output "vnet_id" {
  description = "ID of the virtual network."
  value       = azurerm_virtual_network.this.id
}

output "nodes_subnet_id" {
  description = "Subnet of the AKS nodes."
  value       = azurerm_subnet.nodes.id
}

output "postgres_subnet_id" {
  description = "Subnet delegated to the PostgreSQL Flexible Server."
  value       = azurerm_subnet.postgres.id
}

output "private_endpoints_subnet_id" {
  description = "Subnet of the private endpoints."
  value       = azurerm_subnet.private_endpoints.id
}

output "postgres_cidr" {
  description = "CIDR of the PostgreSQL subnet (the chart's networkPolicy.postgres.cidrs)."
  value       = local.subnets.postgres
}

output "private_endpoints_cidr" {
  description = "CIDR of the private endpoints subnet (the chart's networkPolicy.redis.cidrs)."
  value       = local.subnets.private_endpoints
}

# Given to the server only once the zone is linked to the VNet: a Flexible Server created before
# the link cannot resolve its own name from the VNet.
output "postgres_private_dns_zone_id" {
  description = "Private DNS zone of the PostgreSQL Flexible Server, linked to the VNet."
  value       = azurerm_private_dns_zone.postgres.id
  depends_on  = [azurerm_private_dns_zone_virtual_network_link.postgres]
}

output "redis_private_dns_zone_id" {
  description = "privatelink.redis.azure.net (Azure Managed Redis), linked to the VNet."
  value       = azurerm_private_dns_zone.redis.id
  depends_on  = [azurerm_private_dns_zone_virtual_network_link.redis]
}
