# Replace with yours. Nothing here is secret.
subscription_id            = "00000000-0000-0000-0000-000000000000"
location                   = "westeurope"
name                       = "tocsin-staging"
address_space              = "10.30.0.0/16"
kubernetes_version         = null # pin it: az aks get-versions --location westeurope
aks_admin_group_object_ids = ["00000000-0000-0000-0000-000000000000"]
registry_name              = "tocsinregistry"
dns_zone_name              = "example.com"
dns_record_name            = "tocsin-staging"
github_repository          = "tocsin-oncall/tocsin"
