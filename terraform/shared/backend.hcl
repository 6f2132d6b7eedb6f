# terraform init -backend-config=backend.hcl; the account is created by terraform/bootstrap.
resource_group_name  = "tocsin-tfstate"
storage_account_name = "tocsintfstate"
container_name       = "tfstate"
key                  = "shared.tfstate"
use_azuread_auth     = true
