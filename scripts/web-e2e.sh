#!/usr/bin/env bash
# End-to-end tests of the web dashboard against the real stack, in headless Chromium.
#
#   scripts/web-e2e.sh               build, start the stack, run `npm run e2e`, stop the stack
#   scripts/web-e2e.sh screenshots   same stack, run `npm run screenshots` (docs/screenshots/)
#   scripts/web-e2e.sh bench         same stack, run `npm run bench:render` (5,000 incidents)
#   scripts/web-e2e.sh e2e screenshots bench    several, in this order, on one stack
#
# - Builds the dashboard (npm ci when node_modules is missing, npm run build) and the four
#   services (cargo build), then starts them with scripts/run-local.sh in the background.
# - Each run gets its own database (tocsin_web_e2e_<pid>, created on the project-local
#   PostgreSQL with the app role) and its own Redis stream prefix, so the page shows only what
#   the run created, and a developer's `make run` data is left alone. Both are removed at exit.
# - Tokens are generated for the run and handed to the tests as TOCSIN_API_TOKEN and
#   TOCSIN_INGEST_TOKEN, with TOCSIN_WEB_URL and TOCSIN_INGEST_URL.
# - Chromium: /usr/bin/chromium, or CHROMIUM_PATH. Ports: run-local.sh's fixed 8080-8083.
# Exits non-zero on any failure; the stack is stopped on every exit (trap).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
WEB="$ROOT/services/web"
INFRA="$ROOT/scripts/local-infra.sh"
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
command -v psql >/dev/null 2>&1 || die "psql is needed to create the run's database"
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

# ------------------------------------------------------------ cleanup/trap ---

RUN_PID=""
STARTED_INFRA=0
DB_NAME="tocsin_web_e2e_$$"
ADMIN_URL=""
STREAM_PREFIX="tocsin-web-e2e-$$"
RUN_LOG="$(mktemp "${TMPDIR:-/tmp}/tocsin-web-e2e.XXXXXX.log")"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$RUN_PID" ]] && kill -0 "$RUN_PID" 2>/dev/null; then
        log "stopping the stack"
        kill -TERM "$RUN_PID" 2>/dev/null || true
        wait "$RUN_PID" 2>/dev/null || true
    fi
    if [[ -n "$ADMIN_URL" ]]; then
        psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $DB_NAME"
    fi
    if [[ -n "${REDIS_URL:-}" ]] && command -v redis-cli >/dev/null 2>&1; then
        redis-cli -u "$REDIS_URL" --scan --pattern "$STREAM_PREFIX*" 2>/dev/null |
            xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
    fi
    if ((STARTED_INFRA)); then
        bash "$INFRA" down >/dev/null 2>&1 || log "stopping the local infra failed (scripts/local-infra.sh down)"
    fi
    if ((status != 0)); then
        log "failed (exit $status); the stack's log:"
        tail -n 60 "$RUN_LOG" >&2 || true
    fi
    rm -f "$RUN_LOG"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------- infra ---

st=0
bash "$INFRA" status >/dev/null 2>&1 || st=$?
[[ $st -eq 3 ]] && STARTED_INFRA=1
eval "$(bash "$INFRA" up)"
ADMIN_URL="$DATABASE_URL"
psql -q "$ADMIN_URL" -c "CREATE DATABASE $DB_NAME" >/dev/null || die "could not create database $DB_NAME"
export DATABASE_URL="${ADMIN_URL%/*}/$DB_NAME"
export REDIS_URL STREAM_PREFIX
export API_TOKEN INGEST_TOKEN
API_TOKEN="web-e2e-api-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
INGEST_TOKEN="web-e2e-ingest-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export WEB_ROOT="$WEB/dist"

# ------------------------------------------------------------------- stack ---

log "starting the stack (scripts/run-local.sh, log in $RUN_LOG)"
TOCSIN_READY_TIMEOUT="$READY_TIMEOUT" bash "$ROOT/scripts/run-local.sh" >"$RUN_LOG" 2>&1 &
RUN_PID=$!

deadline=$((SECONDS + READY_TIMEOUT + 30))
until grep -q 'tocsin is running' "$RUN_LOG" 2>/dev/null; do
    kill -0 "$RUN_PID" 2>/dev/null || die "scripts/run-local.sh exited before the stack was ready"
    ((SECONDS < deadline)) || die "the stack was not ready after $((READY_TIMEOUT + 30)) s"
    sleep 0.5
done
log "stack ready"

export TOCSIN_WEB_URL="http://127.0.0.1:8080"
export TOCSIN_INGEST_URL="http://127.0.0.1:8081"
export TOCSIN_API_TOKEN="$API_TOKEN"
export TOCSIN_INGEST_TOKEN="$INGEST_TOKEN"

# ------------------------------------------------------------------- tests ---

for script in "${SCRIPTS[@]}"; do
    log "npm run $script"
    (cd "$WEB" && npm run "$script")
done
log "passed"
