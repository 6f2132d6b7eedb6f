# Replace with yours. Nothing here is secret.
subscription_id   = "00000000-0000-0000-0000-000000000000"
location          = "westeurope"
registry_name     = "tocsinregistry"
dns_zone_name     = "example.com"
github_repository = "tocsin-oncall/tocsin"
