# What the environments share: the container registry every cluster pulls from (an image is built
# once and promoted, never rebuilt per environment), the public DNS zone their host names live in,
# and the identity the release workflow pushes with.

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "this" {
  name     = var.resource_group_name
  location = var.location
  tags     = var.tags
}

resource "azurerm_container_registry" "this" {
  name                = var.registry_name
  location            = var.location
  resource_group_name = azurerm_resource_group.this.name
  sku                 = var.registry_sku
  admin_enabled       = false
  tags                = var.tags
}

resource "azurerm_dns_zone" "this" {
  name                = var.dns_zone_name
  resource_group_name = azurerm_resource_group.this.name
  tags                = var.tags
}

# .github/workflows/release.yml logs in as this identity (OIDC, no stored secret) from the
# `release` environment and pushes the five images and the Helm chart.
module "release_identity" {
  source = "../modules/federated-identity"

  name                = "tocsin-github-release"
  location            = var.location
  resource_group_name = azurerm_resource_group.this.name
  issuer              = "https://token.actions.githubusercontent.com"
  subjects = {
    github-release = "repo:${var.github_repository}:environment:release"
  }
  role_assignments = {
    push = { scope = azurerm_container_registry.this.id, role = "AcrPush" }
  }
  tags = var.tags
}
