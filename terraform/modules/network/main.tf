# The VNet tocsin runs in: one subnet for the AKS nodes, one delegated to the PostgreSQL Flexible
# Server (VNet integration, no public endpoint), one for private endpoints (Redis). The private DNS
# zones that make the managed services' names resolve to their private addresses are linked here.
#
# The Helm chart's NetworkPolicies allow egress to PostgreSQL and Redis by CIDR
# (networkPolicy.postgres.cidrs, networkPolicy.redis.cidrs): the outputs give those CIDRs.

locals {
  subnets = {
    nodes             = cidrsubnet(var.address_space, 7, 0) # x.y.0.0/23
    postgres          = cidrsubnet(var.address_space, 8, 2) # x.y.2.0/24
    private_endpoints = cidrsubnet(var.address_space, 8, 3) # x.y.3.0/24
  }
}

resource "azurerm_virtual_network" "this" {
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  address_space       = [var.address_space]
  tags                = var.tags
}

resource "azurerm_subnet" "nodes" {
  name                 = "${var.name}-nodes"
  resource_group_name  = var.resource_group_name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [local.subnets.nodes]
}

resource "azurerm_subnet" "postgres" {
  name                 = "${var.name}-postgres"
  resource_group_name  = var.resource_group_name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [local.subnets.postgres]

  delegation {
    name = "postgres-flexible-server"
    service_delegation {
      name    = "Microsoft.DBforPostgreSQL/flexibleServers"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

resource "azurerm_subnet" "private_endpoints" {
  name                 = "${var.name}-private-endpoints"
  resource_group_name  = var.resource_group_name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [local.subnets.private_endpoints]
}

# PostgreSQL with VNet integration needs a private zone whose name ends in
# .postgres.database.azure.com; the private endpoint of Azure Managed Redis uses its privatelink
# zone (privatelink.redis.azure.net; Azure Cache for Redis's would be privatelink.redis.cache.windows.net).
resource "azurerm_private_dns_zone" "postgres" {
  name                = "${var.name}.private.postgres.database.azure.com"
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_private_dns_zone" "redis" {
  name                = "privatelink.redis.azure.net"
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "postgres" {
  name                 = "${var.name}-postgres"
  private_dns_zone_id  = azurerm_private_dns_zone.postgres.id
  virtual_network_id   = azurerm_virtual_network.this.id
  registration_enabled = false
  tags                 = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "redis" {
  name                 = "${var.name}-redis"
  private_dns_zone_id  = azurerm_private_dns_zone.redis.id
  virtual_network_id   = azurerm_virtual_network.this.id
  registration_enabled = false
  tags                 = var.tags
}
