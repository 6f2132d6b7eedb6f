# Replace with yours. Nothing here is secret.
subscription_id      = "00000000-0000-0000-0000-000000000000"
location             = "westeurope"
storage_account_name = "tocsintfstate"
