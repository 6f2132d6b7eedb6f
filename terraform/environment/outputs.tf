# The same in every environment (scripts/lint-delivery.sh checks).

output "resource_group_name" {
  description = "Resource group of the environment."
  value       = azurerm_resource_group.this.name
}

output "aks_name" {
  description = "Name of the AKS cluster."
  value       = module.aks.name
}

output "get_credentials" {
  description = "Command that writes the cluster's kubeconfig (kubectl then signs in with Entra ID through kubelogin)."
  value       = "az aks get-credentials --resource-group ${azurerm_resource_group.this.name} --name ${module.aks.name}"
}

output "host" {
  description = "The environment's host name (the chart's ingress.host)."
  value       = local.host
}

output "ingress_ip" {
  description = "The ingress's public address; the DNS record points at it."
  value       = module.aks.ingress_public_ip_address
}

output "key_vault_name" {
  description = "The vault holding the credentials (secret names in key_vault_secrets)."
  value       = module.key_vault.name
}

output "key_vault_secrets" {
  description = "The secrets Terraform keeps in the vault."
  value       = module.key_vault.secret_names
}

output "postgres_fqdn" {
  description = "Host name of the PostgreSQL Flexible Server (private)."
  value       = module.postgres.fqdn
}

output "redis_hostname" {
  description = "Host name of Azure Managed Redis (private endpoint; TLS port in redis_port)."
  value       = module.redis.hostname
}

output "redis_port" {
  description = "The Redis TLS port (10000), the chart's networkPolicy.redis.ports."
  value       = module.redis.port
}

output "backup_storage" {
  description = "Where the backup and archival jobs write (workload identity, no keys)."
  value = {
    account       = module.storage.name
    blob_endpoint = module.storage.blob_endpoint
    containers    = keys(module.storage.container_ids)
  }
}

output "workload_identity_client_id" {
  description = "The chart's workloadIdentity.clientId."
  value       = module.workload_identity.client_id
}

# Passed to helm after the environment's own values file; the deploy workflow reads it from the
# GitHub environment's HELM_VALUES variable (terraform/README.md).
output "helm_values" {
  description = "Helm values for the chart (YAML): registry, workload identity, host, HTTPRoutes to the Gateway, NetworkPolicy sources and CIDRs."
  value = yamlencode({
    image = {
      registry = data.azurerm_container_registry.shared.login_server
    }
    workloadIdentity = {
      enabled  = true
      clientId = module.workload_identity.client_id
    }
    # The Gateway of gateway_manifest instead of ingress-nginx, whose project gets no more fixes.
    ingress = {
      enabled = false
      host    = local.host
    }
    httpRoute = {
      enabled    = true
      parentRefs = [{ name = local.gateway.name, namespace = local.gateway.namespace, sectionName = "https" }]
    }
    networkPolicy = {
      # The Gateway's proxies run in its namespace.
      ingressNamespace = local.gateway.namespace
      postgres         = { cidrs = [module.network.postgres_cidr], ports = [5432] }
      redis            = { cidrs = [module.network.private_endpoints_cidr], ports = [module.redis.port] }
    }
  })
}

# The Gateway that the chart's HTTPRoutes attach to (httpRoute in helm_values), for the AKS
# application routing add-on's Gateway API implementation (GatewayClass approuting-istio; enabled
# with the managed Gateway API CRDs, docs/deploy-aks.md step 6). Its Service keeps the static IP of
# the aks module, and with it the DNS record; cert-manager issues the listener's certificate.
output "gateway_manifest" {
  description = "The Gateway for the chart's HTTPRoutes, with its namespace (YAML, for kubectl apply)."
  value = join("---\n", [
    yamlencode({
      apiVersion = "v1"
      kind       = "Namespace"
      metadata   = { name = local.gateway.namespace }
    }),
    yamlencode({
      apiVersion = "gateway.networking.k8s.io/v1"
      kind       = "Gateway"
      metadata = {
        name        = local.gateway.name
        namespace   = local.gateway.namespace
        annotations = { "cert-manager.io/cluster-issuer" = var.cluster_issuer }
      }
      spec = {
        gatewayClassName = "approuting-istio"
        # Copied onto the Service the implementation creates: the load balancer takes the static IP.
        infrastructure = {
          annotations = {
            "service.beta.kubernetes.io/azure-load-balancer-resource-group" = azurerm_resource_group.this.name
            "service.beta.kubernetes.io/azure-pip-name"                     = module.aks.ingress_public_ip_name
          }
        }
        listeners = [{
          name     = "https"
          protocol = "HTTPS"
          port     = 443
          hostname = local.host
          tls = {
            mode            = "Terminate"
            certificateRefs = [{ kind = "Secret", name = "${local.gateway.name}-tls" }]
          }
          # Only the release's namespace attaches routes to it.
          allowedRoutes = {
            namespaces = {
              from     = "Selector"
              selector = { matchLabels = { "kubernetes.io/metadata.name" = var.namespace } }
            }
          }
        }]
      }
    }),
  ])
}

output "deploy_workflow_variables" {
  description = "Variables of the GitHub environment named like this one (Settings > Environments), besides HELM_VALUES."
  value = {
    AZURE_CLIENT_ID       = module.deploy_identity.client_id
    AZURE_TENANT_ID       = data.azurerm_client_config.current.tenant_id
    AZURE_SUBSCRIPTION_ID = var.subscription_id
    AKS_RESOURCE_GROUP    = azurerm_resource_group.this.name
    AKS_NAME              = module.aks.name
    ACR_NAME              = data.azurerm_container_registry.shared.name
  }
}

output "sign_in" {
  description = "The chart's query.signIn.issuerUrl and clientId (the secret is oidc-client-secret in the vault); null while sign_in_allowed_group_ids is empty."
  value = length(module.sign_in) > 0 ? {
    issuer_url = module.sign_in[0].issuer_url
    client_id  = module.sign_in[0].client_id
  } : null
}
