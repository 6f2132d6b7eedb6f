# A user-assigned managed identity that tokens from one OIDC issuer can act as, without a stored
# secret: the tocsin ServiceAccounts through AKS workload identity, or a GitHub Actions
# environment (the release and deploy workflows log in to Azure this way).

resource "azurerm_user_assigned_identity" "this" {
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "this" {
  for_each = var.subjects

  name                      = each.key
  user_assigned_identity_id = azurerm_user_assigned_identity.this.id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = var.issuer
  subject                   = each.value
}

resource "azurerm_role_assignment" "this" {
  for_each = var.role_assignments

  scope                            = each.value.scope
  role_definition_name             = each.value.role
  principal_id                     = azurerm_user_assigned_identity.this.principal_id
  skip_service_principal_aad_check = true
}
