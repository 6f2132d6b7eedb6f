#!/usr/bin/env bash
# Lints and tests the Helm chart in deploy/helm/tocsin without a cluster:
#   0. the chart's copies of the rules and dashboards (deploy/helm/tocsin/files/) are identical
#      to dashboards/ (scripts/sync-chart-files.sh --check; the fix is to run it without --check);
#   1. helm lint with the default values and with each example in deploy/helm/examples/ (trial
#      mode's trial.yaml among them);
#   2. helm template of the same value sets, plus production with every optional object on
#      (scripts/lint-deploy/all-features.yaml, rendered as for a cluster serving the Prometheus
#      Operator's monitoring.coreos.com/v1), into .local/lint-deploy/;
#   3. every rendered object validated offline against the Kubernetes OpenAPI schemas
#      (kubernetes-validate, strict: unknown fields fail), the HTTPRoutes against the Gateway
#      API's CRD (standard channel, from its Go module sigs.k8s.io/gateway-api), the ServiceMonitors
#      and the PrometheusRule against the Prometheus Operator's CRDs (from its Go module). KEDA's
#      resources have no upstream schema and are listed as not checked;
#   4. the tests in scripts/lint-deploy/ on the rendered output (probes, security context,
#      feature switches, per-service isolation, notifier wiring, monitoring objects, schema
#      rejecting typos, trial mode, the preflight's messages), and that Terraform's Azure
#      Prometheus rule groups (terraform/modules/prometheus-rules) agree with the PrometheusRule.
# Tools are installed into the git-ignored .local/ on the first run and reused afterwards:
#   helm  -> .local/bin/helm   (go install; only the Go module proxy needs to be reachable)
#   the Gateway API and Prometheus Operator CRDs -> Go's module cache (go mod download)
#   venv  -> .local/venv       (kubernetes-validate and PyYAML from PyPI)
#   PostgreSQL and Redis for the preflight's test: scripts/local-infra.sh up, unless DATABASE_URL
#   and REDIS_URL are set
#   terraform: the one on PATH, else .local/bin/terraform (scripts/lib/terraform.sh)
# Exit status: non-zero if any step fails. The last line is the test runner's "N passed, N failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# Pinned so every run (and CI) lints with the same tools; bump deliberately.
HELM_VERSION=v3.22.0
HELM_K8S_MAJOR=1 HELM_K8S_MINOR=37
KUBERNETES_VALIDATE_VERSION=1.37.0
PYYAML_VERSION=6.0.3
# The Gateway API release whose CRDs the HTTPRoutes must satisfy (v1.3: HTTPRoute v1, standard channel).
GATEWAY_API_VERSION=v1.3.0
# The Prometheus Operator release whose CRDs the ServiceMonitors and the PrometheusRule must satisfy.
PROMETHEUS_OPERATOR_VERSION=v0.80.1
# Kubernetes versions whose schemas the rendered manifests must satisfy: the oldest the chart
# supports (Chart.yaml kubeVersion) and the newest kubernetes-validate ships, which covers the
# AKS versions in support. Override with e.g. LINT_DEPLOY_K8S_VERSIONS="1.33".
K8S_VERSIONS=${LINT_DEPLOY_K8S_VERSIONS:-"1.30 1.37"}

bin_dir=$root/.local/bin
venv=$root/.local/venv
out=$root/.local/lint-deploy
chart=$root/deploy/helm/tocsin
examples=$root/deploy/helm/examples
helm=$bin_dir/helm

step() { printf '\n--- %s\n' "$*" >&2; }

# --- chart copies of dashboards/ ---------------------------------------------------------------
# First, because it needs no tool and a stale copy would ship rules or dashboards nobody tested.
step "the chart's copies of dashboards/ (scripts/sync-chart-files.sh --check)"
"$root/scripts/sync-chart-files.sh" --check

# --- tools -------------------------------------------------------------------------------------
go=$(command -v go || true)
[[ -n $go ]] || go=/usr/local/go/bin/go
[[ -x $go ]] || { echo "lint-deploy: Go is needed for helm and the Gateway API CRDs (not on PATH nor at /usr/local/go/bin/go)" >&2; exit 1; }
if ! { [[ -x $helm ]] && [[ $("$helm" version --template '{{.Version}}' 2>/dev/null) == "$HELM_VERSION" ]]; }; then
    step "installing helm $HELM_VERSION into .local/bin (go install, one-off)"
    mkdir -p "$bin_dir"
    # -ldflags as in helm's own Makefile: the version (which the check above reads), and the
    # Kubernetes version of its client-go (v0.37 for helm v3.22), which `helm template` and
    # `helm lint` assume without a cluster. A plain go install would leave 1.20 there, and the
    # chart's kubeVersion (>=1.30) would refuse to render.
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
        ldflags+=" -X $pkg.k8sVersionMajor=$HELM_K8S_MAJOR -X $pkg.k8sVersionMinor=$HELM_K8S_MINOR"
    done
    GOBIN=$bin_dir CGO_ENABLED=0 "$go" install -trimpath -ldflags "$ldflags" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

venv_ok() {
    [[ -x $venv/bin/python ]] && "$venv/bin/python" - "$KUBERNETES_VALIDATE_VERSION" "$PYYAML_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("kubernetes-validate"), version("PyYAML")) == tuple(sys.argv[1:3]) else 1)
PY
}
if ! venv_ok; then
    step "creating .local/venv with kubernetes-validate $KUBERNETES_VALIDATE_VERSION and PyYAML $PYYAML_VERSION (one-off)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML==$PYYAML_VERSION"
fi

# terraform, for the check that terraform/modules/prometheus-rules turns the rules into the same
# Azure rule groups as the chart's PrometheusRule (no provider, nothing from the registry).
# shellcheck source=scripts/lib/terraform.sh
source "$root/scripts/lib/terraform.sh"
terraform=$(terraform_bin "$bin_dir" "$go")

# --- lint and render ---------------------------------------------------------------------------
mkdir -p "$out"
rm -f "$out"/*.yaml
value_sets=(default)
for f in "$examples"/*.yaml; do value_sets+=("$(basename "$f" .yaml)"); done
# production plus every optional object no example enables (CRDs, ConfigMap, OTel...).
value_sets+=(all-features)

for set in "${value_sets[@]}"; do
    case $set in
        default) args=() ;;
        all-features) args=(-f "$examples/production.yaml" -f "$root/scripts/lint-deploy/all-features.yaml") ;;
        *) args=(-f "$examples/$set.yaml") ;;
    esac
    # An example may leave values empty on purpose (minimal.yaml: the credentials); its overlay
    # in scripts/lint-deploy/overlays/ fills them in for linting.
    overlay=$root/scripts/lint-deploy/overlays/$set.yaml
    [[ -f $overlay ]] && args+=(-f "$overlay")
    step "helm lint --strict ($set values)"
    "$helm" lint --strict "$chart" "${args[@]}"
    step "helm template ($set values) > .local/lint-deploy/$set.yaml"
    # all-features as on a cluster with the Prometheus Operator, whose API the ServiceMonitors and
    # the PrometheusRule need (monitoring.api auto renders them only then).
    api_versions=()
    [[ $set == all-features ]] && api_versions=(--api-versions monitoring.coreos.com/v1)
    "$helm" template tocsin "$chart" --namespace tocsin "${args[@]}" "${api_versions[@]}" >"$out/$set.yaml"
    echo "$(grep -c '^kind: ' "$out/$set.yaml") objects rendered" >&2
done

# --- offline schema validation -----------------------------------------------------------------
# Outside any Go module (from $out), so that `go mod download` only fetches into the cache.
gateway_api=$(cd "$out" && "$go" mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
gateway_crds=$gateway_api/config/crd/standard
prometheus_operator=$(cd "$out" && "$go" mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
# Only the two the chart renders; a folder of their own, as validate.py reads every file of a folder
# (and PyYAML cannot read some of the others: the AlertmanagerConfig CRD's "=" enum value).
prometheus_crds=$out/crds/prometheus-operator
mkdir -p "$prometheus_crds"
for crd in servicemonitors prometheusrules; do
    cp -f "$prometheus_operator/example/prometheus-operator-crd/monitoring.coreos.com_$crd.yaml" "$prometheus_crds/"
done
for k8s in $K8S_VERSIONS; do
    step "kubernetes-validate --strict against Kubernetes $k8s; HTTPRoutes, ServiceMonitors and PrometheusRules against their CRDs"
    "$venv/bin/python" "$root/scripts/lint-deploy/validate.py" --kubernetes-version "$k8s" \
        --crds "$gateway_crds" --crds "$prometheus_crds" "$out"/*.yaml
done

# --- tests on the rendered output --------------------------------------------------------------
# The preflight's script is run against a real PostgreSQL and Redis: the project-local ones
# (scripts/local-infra.sh, idempotent) unless DATABASE_URL and REDIS_URL are already set.
if [[ -z ${DATABASE_URL:-} || -z ${REDIS_URL:-} ]]; then
    infra_env=$(bash "$root/scripts/local-infra.sh" up)
    eval "$infra_env"
fi
step "tests on the rendered output (scripts/lint-deploy/)"
HELM="$helm" CHART="$chart" EXAMPLES="$examples" GATEWAY_API_CRDS="$gateway_crds" \
    PROMETHEUS_OPERATOR_CRDS="$prometheus_crds" TERRAFORM="$terraform" \
    DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" \
    "$venv/bin/python" "$root/scripts/lint-deploy/test_chart.py"
