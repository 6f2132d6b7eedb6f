# The app registration query signs people in with (docs/sign-in.md): OpenID Connect's
# authorization code flow with PKCE, as a confidential client. Single tenant, and only the
# principals assigned to the enterprise application may sign in.

data "azuread_client_config" "current" {}

# Microsoft Graph's delegated scopes of an OpenID Connect sign-in.
locals {
  microsoft_graph = "00000003-0000-0000-c000-000000000000"
  sign_in_scopes = {
    openid  = "37f7f235-527c-4136-accd-4a02d197296e"
    profile = "14dad69e-099b-42c9-810b-d002981feec1"
    email   = "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0"
  }
}

resource "azuread_application" "this" {
  display_name     = var.display_name
  sign_in_audience = "AzureADMyOrg"
  owners           = [data.azuread_client_config.current.object_id]
  # The object ids of the security groups a person is in, for team membership; past 200 groups
  # Entra ID sends an overage marker instead of the list (docs/sign-in.md).
  group_membership_claims = ["SecurityGroup"]

  web {
    # The callback, and the dashboard itself: Entra ID accepts only registered URIs as
    # RP-initiated logout's post_logout_redirect_uri.
    redirect_uris = ["${var.public_url}/auth/callback", "${var.public_url}/"]

    # tocsin uses the code flow; nothing is issued by the implicit one.
    implicit_grant {
      access_token_issuance_enabled = false
      id_token_issuance_enabled     = false
    }
  }

  # The address the timeline records a person by (without it, their name).
  optional_claims {
    id_token {
      name = "email"
    }
  }

  required_resource_access {
    resource_app_id = local.microsoft_graph

    dynamic "resource_access" {
      for_each = local.sign_in_scopes
      content {
        id   = resource_access.value
        type = "Scope"
      }
    }
  }
}

resource "azuread_service_principal" "this" {
  client_id                    = azuread_application.this.client_id
  owners                       = [data.azuread_client_config.current.object_id]
  app_role_assignment_required = true
}

# Who may sign in: the default access role (the nil id) for each assigned principal.
resource "azuread_app_role_assignment" "allowed" {
  for_each = toset(var.allowed_principal_ids)

  app_role_id         = "00000000-0000-0000-0000-000000000000"
  principal_object_id = each.value
  resource_object_id  = azuread_service_principal.this.object_id
}

# The client secret, replaced every secret_rotation_days and valid for twice that, so that the
# next apply rotates it well before it expires. The new value reaches query through Key Vault.
resource "time_rotating" "client_secret" {
  rotation_days = var.secret_rotation_days
}

resource "azuread_application_password" "query" {
  application_id = azuread_application.this.id
  display_name   = "tocsin query"
  end_date       = timeadd(time_rotating.client_secret.id, "${var.secret_rotation_days * 2 * 24}h")
  rotate_when_changed = {
    rotation = time_rotating.client_secret.id
  }
}
