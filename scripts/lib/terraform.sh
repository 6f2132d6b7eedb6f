# shellcheck shell=bash
# Sourced by scripts/lint-deploy.sh and scripts/lint-delivery.sh: the terraform they run.
# terraform_bin BIN_DIR GO prints the path of the terraform on PATH, else of BIN_DIR/terraform,
# which it installs first when missing (go install of 1.5.7, the newest release whose module
# `go install` can build; a few minutes, once). Neither script needs providers: fmt, and `apply`
# of the provider-free terraform/modules/prometheus-rules.
TERRAFORM_FALLBACK_VERSION=v1.5.7

terraform_bin() {
    local bin_dir=$1 go=$2 terraform
    terraform=$(command -v terraform || true)
    if [[ -z $terraform ]]; then
        terraform=$bin_dir/terraform
        if [[ ! -x $terraform ]]; then
            printf '\n--- installing terraform %s into .local/bin (go install, one-off, a few minutes)\n' \
                "$TERRAFORM_FALLBACK_VERSION" >&2
            mkdir -p "$bin_dir"
            GOBIN=$bin_dir CGO_ENABLED=0 "$go" install \
                "github.com/hashicorp/terraform@$TERRAFORM_FALLBACK_VERSION" >&2
        fi
    fi
    echo "$terraform"
}
