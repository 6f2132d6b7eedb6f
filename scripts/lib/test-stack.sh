# shellcheck shell=bash
# The whole stack, for the scripts that test it from the outside (scripts/test-api-schema.sh and
# scripts/web-e2e.sh). Sourced, not run.
#
# A run gets a database and a Redis stream prefix of its own and generated tokens, so it sees only
# what it created and a developer's `make run` data is left alone. scripts/run-local.sh starts the
# four services in the background. On every exit the stack is stopped, the database and the
# streams are removed, the local PostgreSQL and Redis are stopped again if this run started them,
# and on failure the end of the stack's log is shown.
#
# The sourcing script defines `log` and `die` and sets ROOT (the repository), then calls:
#   stack_up NAME            PostgreSQL and Redis (scripts/local-infra.sh), database
#                            tocsin_NAME_<pid>, stream prefix tocsin-NAME-<pid>, tokens; exports
#                            DATABASE_URL, REDIS_URL, STREAM_PREFIX, API_TOKEN and INGEST_TOKEN
#   stack_start [VAR=value]...
#                            scripts/run-local.sh with these variables; returns once it is ready,
#                            within STACK_READY_TIMEOUT seconds (default 120)
# It may define `stack_on_exit`, which runs last on exit. The stack's log is $STACK_LOG.

STACK_RUN_PID=""
STACK_STARTED_INFRA=0
STACK_DB_NAME=""
STACK_ADMIN_URL=""
STACK_LOG="$(mktemp "${TMPDIR:-/tmp}/tocsin-stack.XXXXXX.log")"
STACK_READY_TIMEOUT="${STACK_READY_TIMEOUT:-120}"

stack_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$STACK_RUN_PID" ]] && kill -0 "$STACK_RUN_PID" 2>/dev/null; then
        log "stopping the stack"
        kill -TERM "$STACK_RUN_PID" 2>/dev/null || true
        wait "$STACK_RUN_PID" 2>/dev/null || true
    fi
    if [[ -n "$STACK_ADMIN_URL" ]]; then
        psql -q "$STACK_ADMIN_URL" -c "DROP DATABASE IF EXISTS $STACK_DB_NAME WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $STACK_DB_NAME"
    fi
    if [[ -n "${STREAM_PREFIX:-}" && -n "${REDIS_URL:-}" ]] && command -v redis-cli >/dev/null 2>&1; then
        redis-cli -u "$REDIS_URL" --scan --pattern "$STREAM_PREFIX*" 2>/dev/null |
            xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
    fi
    if ((STACK_STARTED_INFRA)); then
        bash "$ROOT/scripts/local-infra.sh" down >/dev/null 2>&1 ||
            log "stopping the local infra failed (scripts/local-infra.sh down)"
    fi
    if ((status != 0)) && [[ -s "$STACK_LOG" ]]; then
        log "failed (exit $status); the stack's log:"
        tail -n 60 "$STACK_LOG" >&2 || true
    fi
    rm -f "$STACK_LOG"
    if declare -F stack_on_exit >/dev/null; then stack_on_exit; fi
    exit "$status"
}
trap stack_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

random_hex() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

stack_up() {
    local name="$1" infra_status=0
    command -v psql >/dev/null 2>&1 || die "psql is needed to create the run's database"
    bash "$ROOT/scripts/local-infra.sh" status >/dev/null 2>&1 || infra_status=$?
    [[ $infra_status -eq 3 ]] && STACK_STARTED_INFRA=1
    eval "$(bash "$ROOT/scripts/local-infra.sh" up)"
    STACK_ADMIN_URL="$DATABASE_URL"
    STACK_DB_NAME="tocsin_${name//-/_}_$$"
    psql -q "$STACK_ADMIN_URL" -c "CREATE DATABASE $STACK_DB_NAME" >/dev/null ||
        die "could not create database $STACK_DB_NAME"
    export DATABASE_URL="${STACK_ADMIN_URL%/*}/$STACK_DB_NAME"
    export REDIS_URL
    export STREAM_PREFIX="tocsin-$name-$$"
    API_TOKEN="$name-api-$(random_hex)"
    INGEST_TOKEN="$name-ingest-$(random_hex)"
    export API_TOKEN INGEST_TOKEN
}

stack_start() {
    log "starting the stack (scripts/run-local.sh, log in $STACK_LOG)"
    env "$@" TOCSIN_READY_TIMEOUT="$STACK_READY_TIMEOUT" bash "$ROOT/scripts/run-local.sh" >"$STACK_LOG" 2>&1 &
    STACK_RUN_PID=$!
    local deadline=$((SECONDS + STACK_READY_TIMEOUT + 30))
    until grep -q 'tocsin is running' "$STACK_LOG" 2>/dev/null; do
        kill -0 "$STACK_RUN_PID" 2>/dev/null || die "scripts/run-local.sh exited before the stack was ready"
        ((SECONDS < deadline)) || die "the stack was not ready after $((STACK_READY_TIMEOUT + 30)) s"
        sleep 0.5
    done
    log "stack ready"
}
