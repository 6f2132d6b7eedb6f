# terraform init -reconfigure -backend-config=staging.backend.hcl; the account is created by terraform/bootstrap.
resource_group_name  = "tocsin-tfstate"
storage_account_name = "tocsintfstate"
container_name       = "tfstate"
key                  = "staging.tfstate"
use_azuread_auth     = true
