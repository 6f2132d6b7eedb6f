#!/usr/bin/env bash
# End-to-end tests of the web dashboard against the real stack, in headless Chromium.
#
#   scripts/web-e2e.sh               build, start the stack, run `npm run e2e`, stop the stack
#   scripts/web-e2e.sh screenshots   same stack, run `npm run screenshots` (docs/screenshots/)
#   scripts/web-e2e.sh bench         same stack, run `npm run bench:render` (5,000 incidents)
#   scripts/web-e2e.sh e2e screenshots bench    several, in this order, on one stack
#   E2E_FILES="e2e/phone.test.ts" scripts/web-e2e.sh   only these test files (vitest's filters)
#
# - Builds the dashboard (npm ci when node_modules is missing, npm run build) and the four
#   services (cargo build), then starts them with scripts/run-local.sh in the background.
# - Each run gets its own database (tocsin_web_e2e_<pid>) and Redis stream prefix, so the page
#   shows only what the run created, and generated tokens, handed to the tests as
#   TOCSIN_API_TOKEN and TOCSIN_INGEST_TOKEN with TOCSIN_WEB_URL and TOCSIN_INGEST_URL
#   (scripts/lib/test-stack.sh, which also removes them at exit).
# - Chromium: /usr/bin/chromium, or CHROMIUM_PATH. Ports: run-local.sh's fixed 8080-8083.
# - Sign-in with OpenID Connect is on: the local provider (scripts/oidc-provider, npm ci when its
#   node_modules is missing) runs on 127.0.0.1:8089 (TOCSIN_WEB_E2E_OIDC_PORT), and query signs
#   people in there (e2e/sso.test.ts); the other tests use the API token as before.
# Exits non-zero on any failure; the stack is stopped on every exit (trap).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
WEB="$ROOT/services/web"
MODES=("${@:-e2e}")
READY_TIMEOUT="${TOCSIN_WEB_E2E_READY_TIMEOUT:-180}"

log() { printf '[web-e2e] %s\n' "$*" >&2; }
die() { printf '[web-e2e] ERROR: %s\n' "$*" >&2; exit 1; }

SCRIPTS=()
for mode in "${MODES[@]}"; do
    case "$mode" in
        e2e) SCRIPTS+=(e2e) ;;
        screenshots) SCRIPTS+=(screenshots) ;;
        bench) SCRIPTS+=(bench:render) ;;
        *) die "usage: scripts/web-e2e.sh [e2e|screenshots|bench]..." ;;
    esac
done

command -v npm >/dev/null 2>&1 || die "npm is needed (Node 20.19 or newer)"
CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
[[ -x "$CHROMIUM_PATH" ]] || die "no Chromium at $CHROMIUM_PATH (apt-get install chromium, or set CHROMIUM_PATH)"
export CHROMIUM_PATH

# ------------------------------------------------------------------ builds ---

log "building the dashboard"
(
    cd "$WEB"
    [[ -d node_modules ]] || npm ci
    npm run build
)

log "building the services"
(cd "$ROOT" && cargo build -p tocsin-ingest -p tocsin-incident-core -p tocsin-query -p tocsin-notifier)

# ------------------------------------------------------------------- stack ---

STACK_READY_TIMEOUT="$READY_TIMEOUT"
# shellcheck source=scripts/lib/test-stack.sh
source "$ROOT/scripts/lib/test-stack.sh"
stack_up web-e2e

OIDC_DIR="$ROOT/scripts/oidc-provider"
OIDC_PORT="${TOCSIN_WEB_E2E_OIDC_PORT:-8089}"
OIDC_SECRET="web-e2e-client-secret-$$"
(cd "$OIDC_DIR" && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error; })
OIDC_LOG="$(mktemp "${TMPDIR:-/tmp}/tocsin-web-e2e-oidc.XXXXXX")"
OIDC_PROVIDER_PORT="$OIDC_PORT" OIDC_PROVIDER_CLIENT_ID=tocsin OIDC_PROVIDER_CLIENT_SECRET="$OIDC_SECRET" \
    OIDC_PROVIDER_REDIRECT_URIS="http://127.0.0.1:8080/auth/callback" \
    OIDC_PROVIDER_POST_LOGOUT_REDIRECT_URIS="http://127.0.0.1:8080/" \
    node "$OIDC_DIR/provider.js" >"$OIDC_LOG" 2>&1 &
OIDC_PID=$!
stack_on_exit() {
    kill "$OIDC_PID" 2>/dev/null || true
    rm -f "$OIDC_LOG"
}
for _ in $(seq 1 60); do
    grep -q 'oidc-provider listening' "$OIDC_LOG" && break
    kill -0 "$OIDC_PID" 2>/dev/null || { cat "$OIDC_LOG" >&2; die "the OpenID Connect provider did not start"; }
    sleep 0.5
done
grep -q 'oidc-provider listening' "$OIDC_LOG" || die "the OpenID Connect provider did not start within 30 s"
log "OpenID Connect provider on http://127.0.0.1:$OIDC_PORT"

stack_start WEB_ROOT="$WEB/dist" OIDC_ISSUER_URL="http://127.0.0.1:$OIDC_PORT" OIDC_CLIENT_ID=tocsin \
    OIDC_CLIENT_SECRET="$OIDC_SECRET" PUBLIC_URL="http://127.0.0.1:8080"

export TOCSIN_WEB_URL="http://127.0.0.1:8080"
export TOCSIN_INGEST_URL="http://127.0.0.1:8081"
export TOCSIN_API_TOKEN="$API_TOKEN"
export TOCSIN_INGEST_TOKEN="$INGEST_TOKEN"

# ------------------------------------------------------------------- tests ---

for script in "${SCRIPTS[@]}"; do
    log "npm run $script"
    if [[ "$script" == e2e && -n "${E2E_FILES:-}" ]]; then
        # shellcheck disable=SC2086 # E2E_FILES is a list of filters, split on spaces on purpose
        (cd "$WEB" && npm run e2e -- $E2E_FILES)
    else
        (cd "$WEB" && npm run "$script")
    fi
done
log "passed"
