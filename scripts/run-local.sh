#!/usr/bin/env bash
# Run the four tocsin services locally, in the foreground (what `make run` executes).
#
#   PROFILE=debug|release scripts/run-local.sh      (or: scripts/run-local.sh release)
#
# Expects target/$PROFILE/tocsin-{ingest,incident-core,query,notifier} to be built.
# - DATABASE_URL + REDIS_URL: used if both are set; otherwise the project-local
#   PostgreSQL/Redis is started (scripts/local-infra.sh up) and stopped again at exit
#   if this script started it (a local infra that was already running is left running).
# - INGEST_TOKEN / API_TOKEN: generated when unset and kept in .local/tokens.env, so a
#   restart reuses them.
# - RUST_LOG defaults to info.
# - Runs migrations (tocsin-incident-core migrate), starts the services, waits for each
#   /ready, prints URLs, tokens and an Alertmanager receiver, then stays in the foreground.
# - query serves the dashboard from WEB_ROOT (default services/web/dist).
# - Ports: query on TOCSIN_PORT_BASE (default 8080), ingest, incident-core and notifier on the
#   next three; another base lets a test stack run beside a developer's `make run`.
# - TOCSIN_LOCAL_SSO=1 also starts the local OpenID Connect provider (scripts/oidc-provider,
#   npm ci on first use) on TOCSIN_PORT_BASE + 9 and turns sign-in on in query, to try single
#   sign-on: accounts alice / alice-password and bob / bob-password (docs/sign-in.md).
# Ctrl-C / SIGTERM stops everything it started (SIGTERM, up to 15 s, then SIGKILL).
# If a service exits by itself, the others are stopped and the script exits 1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
INFRA="$ROOT/scripts/local-infra.sh"
LOCAL_DIR="$ROOT/.local"
TOKENS_FILE="$LOCAL_DIR/tokens.env"
READY_TIMEOUT="${TOCSIN_READY_TIMEOUT:-60}"  # seconds for all services to answer /ready
STOP_TIMEOUT=15    # seconds between SIGTERM and SIGKILL

log() { printf '[run-local] %s\n' "$*" >&2; }
die() { printf '[run-local] ERROR: %s\n' "$*" >&2; exit 1; }
mask() { sed -E 's#//([^:/@]*):[^@]*@#//\1:***@#' <<<"$1"; }   # hide a URL's password

PROFILE="${1:-${PROFILE:-debug}}"
case "$PROFILE" in
    debug | release) ;;
    *) die "PROFILE must be debug or release, not '$PROFILE'" ;;
esac
BIN_DIR="$ROOT/target/$PROFILE"

# Services, in start order, with their listen addresses.
SERVICES=(incident-core ingest query notifier)
PORT_BASE="${TOCSIN_PORT_BASE:-8080}"
if ! [[ "$PORT_BASE" =~ ^[0-9]+$ ]] || ((PORT_BASE < 1 || PORT_BASE > 65532)); then
    die "TOCSIN_PORT_BASE must be a port number (1-65532), not '$PORT_BASE'"
fi
addr_of() {
    case "$1" in
        query) echo "127.0.0.1:$PORT_BASE" ;;
        ingest) echo "127.0.0.1:$((PORT_BASE + 1))" ;;
        incident-core) echo "127.0.0.1:$((PORT_BASE + 2))" ;;
        notifier) echo "127.0.0.1:$((PORT_BASE + 3))" ;;
    esac
}

release_flag=""
[[ "$PROFILE" == release ]] && release_flag=" --release"
for s in "${SERVICES[@]}"; do
    [[ -x "$BIN_DIR/tocsin-$s" ]] || die "$BIN_DIR/tocsin-$s not found; build it first (cargo build -p tocsin-$s$release_flag), or use 'make run'"
done
command -v curl >/dev/null 2>&1 || die "curl is needed to check the services' /ready"

# Fail early if a port is taken, rather than mistaking another program for ours.
for s in "${SERVICES[@]}"; do
    a="$(addr_of "$s")"
    if (exec 9<>"/dev/tcp/${a%:*}/${a##*:}") 2>/dev/null; then
        die "$a (for $s) is already in use; stop whatever listens there (another 'make run'?)"
    fi
done

# ------------------------------------------------------------ cleanup/traps ---

STARTED_INFRA=0
RUN_DIR=""
SVC_NAMES=()
SVC_PIDS=()
LOG_PIDS=()
SSO_PID=""
FORCE=0
CLEANED=0

stop_services() {
    local i pid alive deadline=$((SECONDS + STOP_TIMEOUT))
    [[ ${#SVC_PIDS[@]} -gt 0 ]] || return 0
    for ((i = 0; i < ${#SVC_PIDS[@]}; i++)); do
        kill -TERM "${SVC_PIDS[i]}" 2>/dev/null || true
    done
    while :; do
        alive=0
        for ((i = 0; i < ${#SVC_PIDS[@]}; i++)); do
            kill -0 "${SVC_PIDS[i]}" 2>/dev/null && alive=1
        done
        ((alive)) || break
        if ((SECONDS >= deadline || FORCE)); then
            for ((i = 0; i < ${#SVC_PIDS[@]}; i++)); do
                pid="${SVC_PIDS[i]}"
                if kill -0 "$pid" 2>/dev/null; then
                    log "${SVC_NAMES[i]} did not stop, sending SIGKILL"
                    kill -KILL "$pid" 2>/dev/null || true
                fi
            done
            break
        fi
        sleep 0.2
    done
    for ((i = 0; i < ${#SVC_PIDS[@]}; i++)); do
        wait "${SVC_PIDS[i]}" 2>/dev/null || true
    done
    # The log prefixers end on EOF once their service is gone; give them a moment.
    deadline=$((SECONDS + 2))
    for ((i = 0; i < ${#LOG_PIDS[@]}; i++)); do
        while kill -0 "${LOG_PIDS[i]}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill "${LOG_PIDS[i]}" 2>/dev/null || true
        wait "${LOG_PIDS[i]}" 2>/dev/null || true
    done
}

cleanup() {
    ((CLEANED)) && return 0
    CLEANED=1
    trap 'FORCE=1' INT TERM HUP   # a second Ctrl-C skips the grace period
    if [[ ${#SVC_PIDS[@]} -gt 0 ]]; then
        log "stopping services"
        stop_services
    fi
    if [[ -n "$SSO_PID" ]]; then
        kill "$SSO_PID" 2>/dev/null || true
        wait "$SSO_PID" 2>/dev/null || true
    fi
    if ((STARTED_INFRA)); then
        bash "$INFRA" down || log "stopping local infra failed (scripts/local-infra.sh down)"
    fi
    [[ -n "$RUN_DIR" ]] && rm -rf "$RUN_DIR"
    return 0
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ------------------------------------------------------------------- infra ---

if [[ -n "${DATABASE_URL:-}" && -n "${REDIS_URL:-}" ]]; then
    log "using DATABASE_URL and REDIS_URL from the environment"
else
    [[ -n "${DATABASE_URL:-}${REDIS_URL:-}" ]] && log "only one of DATABASE_URL/REDIS_URL is set; using the local infra for both"
    st=0
    bash "$INFRA" status >/dev/null 2>&1 || st=$?
    # 3 = neither was running: we own it and stop it at exit. Set before `up`
    # so an interrupted or half-failed start is cleaned up too.
    [[ $st -eq 3 ]] && STARTED_INFRA=1
    infra_env="$(bash "$INFRA" up)" || die "could not start the local PostgreSQL/Redis (see above)"
    eval "$infra_env"
fi
export DATABASE_URL REDIS_URL

# ------------------------------------------------------------------ tokens ---

gen_token() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n'; }

saved_ingest="" saved_api=""
if [[ -f "$TOKENS_FILE" ]]; then
    saved_ingest="$(sed -n 's/^INGEST_TOKEN=//p' "$TOKENS_FILE" | tail -n 1)"
    saved_api="$(sed -n 's/^API_TOKEN=//p' "$TOKENS_FILE" | tail -n 1)"
fi
tokens_changed=0
if [[ -z "${INGEST_TOKEN:-}" ]]; then
    [[ -n "$saved_ingest" ]] || { saved_ingest="$(gen_token)"; tokens_changed=1; }
    INGEST_TOKEN="$saved_ingest"
fi
if [[ -z "${API_TOKEN:-}" ]]; then
    [[ -n "$saved_api" ]] || { saved_api="$(gen_token)"; tokens_changed=1; }
    API_TOKEN="$saved_api"
fi
if ((tokens_changed)); then
    mkdir -p "$LOCAL_DIR"
    (
        umask 077
        { [[ -z "$saved_ingest" ]] || echo "INGEST_TOKEN=$saved_ingest"
          [[ -z "$saved_api" ]] || echo "API_TOKEN=$saved_api"; } >"$TOKENS_FILE"
    )
    log "generated tokens, saved in $TOKENS_FILE"
fi
export INGEST_TOKEN API_TOKEN
export RUST_LOG="${RUST_LOG:-info}"
# query serves the dashboard from here (built by `make web`; `make run` builds it).
export WEB_ROOT="${WEB_ROOT:-$ROOT/services/web/dist}"
[[ -f "$WEB_ROOT/index.html" ]] || log "no dashboard build in $WEB_ROOT: the API works, the page does not (make web)"

# ------------------------------------------------------------- single sign-on ---

SSO_URL=""
if [[ "${TOCSIN_LOCAL_SSO:-}" == 1 ]]; then
    command -v node >/dev/null 2>&1 || die "TOCSIN_LOCAL_SSO=1 needs Node.js 20.19 or newer for the local provider"
    sso_dir="$ROOT/scripts/oidc-provider"
    [[ -d "$sso_dir/node_modules" ]] || (cd "$sso_dir" && npm ci --no-audit --no-fund --loglevel=error) ||
        die "could not install the local OpenID Connect provider (npm ci in scripts/oidc-provider)"
    SSO_URL="http://127.0.0.1:$((PORT_BASE + 9))"
    sso_secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    mkdir -p "$LOCAL_DIR"
    OIDC_PROVIDER_PORT="$((PORT_BASE + 9))" OIDC_PROVIDER_CLIENT_ID=tocsin OIDC_PROVIDER_CLIENT_SECRET="$sso_secret" \
        OIDC_PROVIDER_REDIRECT_URIS="http://127.0.0.1:$PORT_BASE/auth/callback" \
        OIDC_PROVIDER_POST_LOGOUT_REDIRECT_URIS="http://127.0.0.1:$PORT_BASE/" \
        node "$sso_dir/provider.js" >"$LOCAL_DIR/oidc-provider.log" 2>&1 &
    SSO_PID=$!
    for _ in $(seq 1 60); do
        grep -q 'oidc-provider listening' "$LOCAL_DIR/oidc-provider.log" && break
        kill -0 "$SSO_PID" 2>/dev/null || die "the local OpenID Connect provider stopped: see $LOCAL_DIR/oidc-provider.log"
        sleep 0.5
    done
    grep -q 'oidc-provider listening' "$LOCAL_DIR/oidc-provider.log" ||
        die "the local OpenID Connect provider did not start within 30 s: see $LOCAL_DIR/oidc-provider.log"
    export OIDC_ISSUER_URL="$SSO_URL" OIDC_CLIENT_ID=tocsin OIDC_CLIENT_SECRET="$sso_secret"
    export PUBLIC_URL="http://127.0.0.1:$PORT_BASE"
    log "local OpenID Connect provider on $SSO_URL (log in $LOCAL_DIR/oidc-provider.log)"
fi

# -------------------------------------------------------------- migrations ---

log "running migrations"
if ! "$BIN_DIR/tocsin-incident-core" migrate 2>&1 | sed -u 's/^/[migrate] /'; then
    die "migrations failed (tocsin-incident-core migrate against $(mask "$DATABASE_URL")); nothing was started"
fi

# ---------------------------------------------------------------- services ---

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tocsin-run.XXXXXX")"
SED_UNBUF=-u
sed -u q </dev/null >/dev/null 2>&1 || SED_UNBUF=-l   # BSD/macOS sed

start_service() {
    local name="$1" addr fifo
    addr="$(addr_of "$name")"
    fifo="$RUN_DIR/$name.log"
    mkfifo "$fifo"
    # The prefixer reads a FIFO so that $! below is the service's own PID, not sed's.
    sed "$SED_UNBUF" "s/^/[$name] /" <"$fifo" &
    LOG_PIDS+=("$!")
    LISTEN_ADDR="$addr" "$BIN_DIR/tocsin-$name" >"$fifo" 2>&1 &
    SVC_PIDS+=("$!")
    SVC_NAMES+=("$name")
    log "started $name (pid $!, $addr)"
}

for s in "${SERVICES[@]}"; do start_service "$s"; done

# Whether service i has exited; its status goes to $st. (Not called in $(...):
# only this shell can `wait` for its children.)
exited() {
    kill -0 "${SVC_PIDS[$1]}" 2>/dev/null && return 1
    st=0
    wait "${SVC_PIDS[$1]}" 2>/dev/null || st=$?
    return 0
}

# Wait for every /ready to answer 200.
ready=()
last_code=()
for ((i = 0; i < ${#SVC_PIDS[@]}; i++)); do ready+=(0); done
deadline=$((SECONDS + READY_TIMEOUT))
while :; do
    pending=0
    for ((i = 0; i < ${#SVC_PIDS[@]}; i++)); do
        ((ready[i])) && continue
        if exited "$i"; then
            die "${SVC_NAMES[i]} exited (status $st) before it was ready; stopping everything"
        fi
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$(addr_of "${SVC_NAMES[i]}")/ready" || true)"
        if [[ "$code" == 200 ]]; then
            ready[i]=1
            log "${SVC_NAMES[i]} is ready"
        else
            pending=1
            last_code[i]="$code"
        fi
    done
    ((pending)) || break
    if ((SECONDS >= deadline)); then
        for ((i = 0; i < ${#SVC_PIDS[@]}; i++)); do
            ((ready[i])) || log "${SVC_NAMES[i]} not ready after ${READY_TIMEOUT}s (GET http://$(addr_of "${SVC_NAMES[i]}")/ready -> ${last_code[i]:-none})"
        done
        die "not every service became ready; stopping everything"
    fi
    sleep 0.5
done

# ----------------------------------------------------------------- summary ---

QUERY_ADDR="$(addr_of query)" INGEST_ADDR="$(addr_of ingest)"
CORE_ADDR="$(addr_of incident-core)" NOTIFIER_ADDR="$(addr_of notifier)"
if [[ -n "${ROUTING_FILE:-}" ]]; then
    notifications="routing file $ROUTING_FILE"
elif [[ -n "${SLACK_BOT_TOKEN:-}" && -n "${SLACK_CHANNEL:-}" ]]; then
    notifications="Slack channel $SLACK_CHANNEL"
else
    notifications="none (set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_CHANNEL; docs/notifications.md)"
fi

cat <<EOF

============================================================================
 tocsin is running ($PROFILE build)                    Ctrl-C stops everything
----------------------------------------------------------------------------
 Dashboard             http://$QUERY_ADDR/#token=$API_TOKEN
 API (query)           http://$QUERY_ADDR
 Alertmanager webhook  http://$INGEST_ADDR/alerts
 incident-core         http://$CORE_ADDR   (/health /ready /metrics)
 notifier              http://$NOTIFIER_ADDR   (/slack/actions /health /ready /metrics)
 Notifications         $notifications
 PostgreSQL            $(mask "$DATABASE_URL")
 Redis                 $(mask "$REDIS_URL")

 API_TOKEN=$API_TOKEN
 INGEST_TOKEN=$INGEST_TOKEN
 (generated tokens are kept in $TOKENS_FILE)

 Try:
   curl -H "Authorization: Bearer $API_TOKEN" http://$QUERY_ADDR/incidents

 Alertmanager receiver (alertmanager.yml):
receivers:
  - name: tocsin
    webhook_configs:
      - url: http://$INGEST_ADDR/alerts
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: $INGEST_TOKEN

 Prometheus scrape config (prometheus.yml), to watch tocsin itself:
scrape_configs:
  - job_name: tocsin-query
    static_configs: [{targets: ['$QUERY_ADDR']}]
  - job_name: tocsin-ingest
    static_configs: [{targets: ['$INGEST_ADDR']}]
  - job_name: tocsin-incident-core
    static_configs: [{targets: ['$CORE_ADDR']}]
  - job_name: tocsin-notifier
    static_configs: [{targets: ['$NOTIFIER_ADDR']}]
============================================================================

EOF
if [[ -n "$SSO_URL" ]]; then
    cat <<EOF
 Single sign-on (TOCSIN_LOCAL_SSO=1): open http://$QUERY_ADDR/signin and choose
 "Sign in with your organisation"; the local provider ($SSO_URL) knows
 alice / alice-password and bob / bob-password.
============================================================================
EOF
fi

# -------------------------------------------------------------- foreground ---

# Until a signal (trap -> exit -> cleanup) or a service exits by itself.
while :; do
    for ((i = 0; i < ${#SVC_PIDS[@]}; i++)); do
        if exited "$i"; then
            die "${SVC_NAMES[i]} exited by itself (status $st); stopping the others"
        fi
    done
    sleep 1 &
    wait $! || true   # returns early when a trapped signal arrives
done
