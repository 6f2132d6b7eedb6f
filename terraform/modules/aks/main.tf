# The AKS cluster: a system pool and a user pool, both autoscaled over the zones; Azure CNI overlay
# with Cilium (which enforces the chart's NetworkPolicies); OIDC issuer and workload identity for the
# tocsin ServiceAccounts; Entra ID sign-in with Azure RBAC, no local accounts; Container Insights
# into Log Analytics; the Key Vault CSI driver; pulls from the registry with AcrPull.
#
# Also the ingress's static public IP. It lives in the cluster's resource group (not the node
# resource group AKS owns), so it survives a cluster rebuild and the DNS record can point at it;
# the Gateway's Service takes it by name (the gateway_manifest output of the environments).

# The control plane's own identity, created first so that it can be granted the network roles
# before the cluster exists (a system-assigned identity would appear only with the cluster).
resource "azurerm_user_assigned_identity" "control_plane" {
  name                = "${var.name}-control-plane"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

# The cloud provider manages load balancers and reads the node subnet and the ingress IP, which
# are outside the node resource group. Azure documents the IP's resource group as the scope.
data "azurerm_resource_group" "this" {
  name = var.resource_group_name
}

resource "azurerm_role_assignment" "control_plane_network" {
  scope                = data.azurerm_resource_group.this.id
  role_definition_name = "Network Contributor"
  principal_id         = azurerm_user_assigned_identity.control_plane.principal_id
}

# A new role assignment takes a minute or two to be seen by the AKS resource provider, which checks
# the identity's rights on the subnet when it creates the cluster.
resource "time_sleep" "control_plane_network" {
  create_duration = "60s"
  depends_on      = [azurerm_role_assignment.control_plane_network]
}

resource "azurerm_public_ip" "ingress" {
  name                = "${var.name}-ingress"
  location            = var.location
  resource_group_name = var.resource_group_name
  allocation_method   = "Static"
  sku                 = "Standard"
  zones               = var.zones
  tags                = var.tags
}

resource "azurerm_kubernetes_cluster" "this" {
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  node_resource_group = "${var.resource_group_name}-nodes"
  dns_prefix          = var.name
  kubernetes_version  = var.kubernetes_version
  sku_tier            = var.sku_tier

  automatic_upgrade_channel = "patch"
  node_os_upgrade_channel   = "NodeImage"

  oidc_issuer_enabled       = true
  workload_identity_enabled = true

  local_account_disabled = true
  azure_active_directory_role_based_access_control {
    azure_rbac_enabled     = true
    admin_group_object_ids = var.admin_group_object_ids
  }

  dynamic "api_server_access_profile" {
    for_each = length(var.api_server_authorized_ip_ranges) > 0 ? [1] : []
    content {
      authorized_ip_ranges = var.api_server_authorized_ip_ranges
    }
  }

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.control_plane.id]
  }

  default_node_pool {
    name                         = "system"
    vm_size                      = var.system_pool.vm_size
    vnet_subnet_id               = var.nodes_subnet_id
    zones                        = var.zones
    auto_scaling_enabled         = true
    min_count                    = var.system_pool.min_count
    max_count                    = var.system_pool.max_count
    only_critical_addons_enabled = true
    os_sku                       = "AzureLinux"
    temporary_name_for_rotation  = "systemtmp"
    tags                         = var.tags

    upgrade_settings {
      max_surge = "33%"
    }
  }

  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_data_plane  = "cilium"
    network_policy      = "cilium"
    pod_cidr            = var.pod_cidr
    service_cidr        = var.service_cidr
    dns_service_ip      = var.dns_service_ip
    load_balancer_sku   = "standard"
    outbound_type       = "loadBalancer"
  }

  # Node pools are sized by the cluster autoscaler; node auto-provisioning (Karpenter) is off.
  node_provisioning_profile {
    mode = "Manual"
  }

  oms_agent {
    log_analytics_workspace_id      = var.log_analytics_workspace_id
    msi_auth_for_monitoring_enabled = true
  }

  # Azure Monitor managed Prometheus's collector (ama-metrics), which scrapes what the chart's
  # azmonitoring.coreos.com/v1 ServiceMonitors name; where it sends to is modules/managed-prometheus.
  dynamic "monitor_metrics" {
    for_each = var.managed_prometheus ? [1] : []
    content {}
  }

  # Lets a SecretProviderClass mount Key Vault secrets (or sync them into a Secret) with the
  # workload identity, as an alternative to creating tocsin-credentials by hand.
  key_vault_secrets_provider {
    secret_rotation_enabled = true
  }

  tags = var.tags

  lifecycle {
    # The autoscaler owns the node count.
    ignore_changes = [default_node_pool[0].node_count]
  }

  depends_on = [time_sleep.control_plane_network]
}

resource "azurerm_kubernetes_cluster_node_pool" "user" {
  name                        = "apps"
  kubernetes_cluster_id       = azurerm_kubernetes_cluster.this.id
  mode                        = "User"
  vm_size                     = var.user_pool.vm_size
  vnet_subnet_id              = var.nodes_subnet_id
  zones                       = var.zones
  auto_scaling_enabled        = true
  min_count                   = var.user_pool.min_count
  max_count                   = var.user_pool.max_count
  os_sku                      = "AzureLinux"
  temporary_name_for_rotation = "appstmp"
  tags                        = var.tags

  upgrade_settings {
    max_surge = "33%"
  }

  lifecycle {
    ignore_changes = [node_count]
  }
}

resource "azurerm_role_assignment" "acr_pull" {
  scope                            = var.acr_id
  role_definition_name             = "AcrPull"
  principal_id                     = azurerm_kubernetes_cluster.this.kubelet_identity[0].object_id
  skip_service_principal_aad_check = true
}
