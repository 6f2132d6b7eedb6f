variable "name" {
  description = "Name of the cluster; also the prefix of its identity, node resource group and ingress IP."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the cluster. The nodes go to <resource_group_name>-nodes."
  type        = string
}

variable "kubernetes_version" {
  description = <<-EOT
    Kubernetes minor version, e.g. "1.34" (`az aks get-versions --location <region>`). Patch
    versions follow automatically (automatic_upgrade_channel = patch). null: the AKS default at
    creation. The chart needs 1.30 or newer.
  EOT
  type        = string
  default     = null
}

variable "sku_tier" {
  description = "Free (no uptime SLA; fine for staging) or Standard (uptime SLA; production)."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Free", "Standard", "Premium"], var.sku_tier)
    error_message = "sku_tier must be Free, Standard or Premium."
  }
}

variable "zones" {
  description = "Availability zones of the node pools and the ingress IP. [] in a region without zones."
  type        = list(string)
  default     = ["1", "2", "3"]
}

variable "nodes_subnet_id" {
  description = "Subnet of the nodes (Azure CNI overlay: only nodes take VNet addresses)."
  type        = string
}

variable "system_pool" {
  description = "The system node pool (CoreDNS, metrics-server, CSI drivers; tainted CriticalAddonsOnly)."
  type = object({
    vm_size   = string
    min_count = number
    max_count = number
  })
}

variable "user_pool" {
  description = "The user node pool where the tocsin services and the ingress controller run."
  type = object({
    vm_size   = string
    min_count = number
    max_count = number
  })
}

variable "pod_cidr" {
  description = "Overlay range of the pods; must not overlap the VNet or anything it is peered with."
  type        = string
  default     = "10.244.0.0/16"
}

variable "service_cidr" {
  description = "Range of the Kubernetes Services; must not overlap the VNet or pod_cidr."
  type        = string
  default     = "10.250.0.0/16"
}

variable "dns_service_ip" {
  description = "Address of the cluster DNS Service, inside service_cidr."
  type        = string
  default     = "10.250.0.10"
}

variable "admin_group_object_ids" {
  description = <<-EOT
    Entra ID groups whose members are cluster admins. Local accounts are disabled, so every
    kubectl user signs in with Entra ID and is authorised by Azure RBAC.
  EOT
  type        = list(string)
}

variable "api_server_authorized_ip_ranges" {
  description = <<-EOT
    CIDRs allowed to reach the API server. [] leaves it open to the internet, behind Entra ID
    sign-in: GitHub-hosted runners (the deploy workflow) have no fixed addresses.
  EOT
  type        = list(string)
  default     = []
}

variable "log_analytics_workspace_id" {
  description = "Workspace of Container Insights (the monitoring add-on)."
  type        = string
}

variable "managed_prometheus" {
  description = "Run Azure Monitor managed Prometheus's metrics collector (ama-metrics) in the cluster."
  type        = bool
  default     = false
}

variable "acr_id" {
  description = "Container registry the kubelets pull the tocsin images from (AcrPull)."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
