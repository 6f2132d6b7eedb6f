#!/usr/bin/env bash
# Project-local PostgreSQL + Redis for development and tests.
#
#   scripts/local-infra.sh up       start both (idempotent), print export lines
#   scripts/local-infra.sh down     stop both (no-op if not running)
#   scripts/local-infra.sh env      print the export lines only
#   scripts/local-infra.sh status   say what runs (exit 0 both, 1 one, 3 none)
#
# Typical use:   eval "$(scripts/local-infra.sh up)"
# Only the `export ...` lines go to stdout; every message goes to stderr.
#
# Layout (all under the git-ignored .local/ of the project):
#   .local/postgres/           PG data dir (owned by the `postgres` OS user when run as root)
#   .local/postgres.log        PG server log
#   .local/pg-superuser.pass   random password of the PG superuser `postgres` (mode 600)
#   .local/redis/              Redis dir (RDB + append-only files)
#   .local/redis.conf          generated Redis config
#   .local/redis.pid, .local/redis.log
#
# PostgreSQL: listens on 127.0.0.1 only, Unix sockets disabled, every connection
# authenticates with scram-sha-256 (no trust: other local users of a shared box
# cannot log in as superuser). App role: tocsin/tocsin (LOGIN CREATEDB), owning
# database `tocsin`.
# Redis: 127.0.0.1 only, no password, maxmemory-policy noeviction (streams must
# never be evicted), appendonly yes + appendfsync everysec.
#
# Ports: TOCSIN_PG_PORT (default 55432), TOCSIN_REDIS_PORT (default 56379).
set -euo pipefail

# stdout is reserved for the export lines: keep it on fd 3, send everything else to stderr.
exec 3>&1 1>&2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
LOCAL_DIR="$ROOT/.local"
PG_PORT="${TOCSIN_PG_PORT:-55432}"
REDIS_PORT="${TOCSIN_REDIS_PORT:-56379}"
PG_DATA="$LOCAL_DIR/postgres"
PG_LOG="$LOCAL_DIR/postgres.log"
PG_SUPERPASS_FILE="$LOCAL_DIR/pg-superuser.pass"
REDIS_DIR="$LOCAL_DIR/redis"
REDIS_CONF="$LOCAL_DIR/redis.conf"
REDIS_PID="$LOCAL_DIR/redis.pid"
REDIS_LOG="$LOCAL_DIR/redis.log"
WAIT_SECS="${TOCSIN_INFRA_TIMEOUT:-60}"

DATABASE_URL_OUT="postgres://tocsin:tocsin@127.0.0.1:${PG_PORT}/tocsin"
REDIS_URL_OUT="redis://127.0.0.1:${REDIS_PORT}/"
# Both servers also speak TLS, with a certificate from a CA made for this checkout, so the tests can
# prove the services connect the way managed PostgreSQL and Redis require.
TLS_DIR="$LOCAL_DIR/tls"
REDIS_TLS_PORT=$((REDIS_PORT + 1))
PG_TLS_URL_OUT="${DATABASE_URL_OUT}?sslmode=verify-full&sslrootcert=${TLS_DIR}/ca.pem"
REDIS_TLS_URL_OUT="rediss://127.0.0.1:${REDIS_TLS_PORT}/#insecure"

for p in "$PG_PORT" "$REDIS_PORT"; do
    if ! [[ "$p" =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then
        echo "local-infra: ERROR: invalid port '$p'" >&2
        exit 2
    fi
done

log() { printf 'local-infra: %s\n' "$*"; }
die() { printf 'local-infra: ERROR: %s\n' "$*"; exit 1; }

print_env() {
    printf 'export DATABASE_URL=%s\n' "$DATABASE_URL_OUT" >&3
    printf 'export REDIS_URL=%s\n' "$REDIS_URL_OUT" >&3
    # For the TLS tests (crates/storage/tests/tls.rs, crates/bus/tests/tls.rs).
    printf "export TOCSIN_TEST_DATABASE_TLS_URL='%s'\n" "$PG_TLS_URL_OUT" >&3
    printf "export TOCSIN_TEST_REDIS_TLS_URL='%s'\n" "$REDIS_TLS_URL_OUT" >&3
}

# A CA of this checkout's own and a server certificate for 127.0.0.1, made once.
ensure_tls_certs() {
    [[ -f "$TLS_DIR/server.pem" && -f "$TLS_DIR/server.key" && -f "$TLS_DIR/ca.pem" ]] && return 0
    command -v openssl >/dev/null 2>&1 || die "openssl is needed for the local TLS certificates (apt-get install openssl)"
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tocsin local CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem
    ) >"$LOCAL_DIR/tls.log" 2>&1 || { cat "$LOCAL_DIR/tls.log"; die "making the local TLS certificates failed"; }
}

# ---------------------------------------------------------------- binaries ---

PG_BIN=""
find_pg_bin() {
    local d
    # Debian/Ubuntu: newest /usr/lib/postgresql/<ver>/bin
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$d" && -x "$d/pg_ctl" ]]; then PG_BIN="$d"; return 0; fi
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        if [[ -n "$d" && -x "$d/pg_ctl" ]]; then PG_BIN="$d"; return 0; fi
    fi
    if command -v pg_ctl >/dev/null 2>&1; then
        PG_BIN="$(dirname "$(command -v pg_ctl)")"; return 0
    fi
    return 1
}

# A client tool (psql, pg_isready): prefer the server's bin dir, else PATH.
pg_tool() {
    if [[ -n "$PG_BIN" && -x "$PG_BIN/$1" ]]; then echo "$PG_BIN/$1"; else command -v "$1"; fi
}

have_redis() { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }
have_pg() { find_pg_bin && [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/postgres" ]] \
    && pg_tool psql >/dev/null && pg_tool pg_isready >/dev/null; }

is_debian_like() {
    [[ -r /etc/os-release ]] || return 1
    local id id_like
    id="$(. /etc/os-release && echo "${ID:-}")"
    id_like="$(. /etc/os-release && echo "${ID_LIKE:-}")"
    [[ "$id" == debian || "$id" == ubuntu || " $id_like " == *" debian "* || " $id_like " == *" ubuntu "* ]]
}

install_hint() {
    cat <<'EOF'
PostgreSQL server and/or Redis are missing. Install them, then re-run:
  Debian/Ubuntu:  sudo apt-get install postgresql redis-server
  macOS:          brew install postgresql@15 redis
  Fedora:         sudo dnf install postgresql-server redis
EOF
}

ensure_binaries() {
    if have_pg && have_redis; then return 0; fi
    local sudo=()
    if is_debian_like && command -v apt-get >/dev/null 2>&1; then
        if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        fi
        if [[ $EUID -eq 0 || ${#sudo[@]} -gt 0 ]]; then
            log "installing postgresql and redis-server with apt-get"
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql redis-server
            if have_pg && have_redis; then return 0; fi
            die "still missing PostgreSQL or Redis binaries after apt-get install"
        fi
    fi
    install_hint
    exit 1
}

# ---------------------------------------------------------------- postgres ---

# Run a command as the OS user that owns the PG data dir. initdb/postgres refuse
# to run as root, so as root we use the `postgres` user; otherwise the caller.
# fd 3 (our real stdout) is closed for it: a daemon holding it open would make
# `$(local-infra.sh up)` wait forever.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd "$LOCAL_DIR" && runuser -u postgres -- "$@") 3>&-
    else
        "$@" 3>&-
    fi
}

# As root: the `postgres` user must be able to traverse every parent of .local
# (a CI clone in a `mktemp -d` folder is mode 700). Add o+x (traverse, not list)
# only where it is missing.
ensure_pg_traversal() {
    [[ $EUID -eq 0 ]] || return 0
    id postgres >/dev/null 2>&1 || die "OS user 'postgres' does not exist (is the postgresql package installed?)"
    command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run PostgreSQL as user 'postgres'"
    if runuser -u postgres -- test -x "$LOCAL_DIR"; then return 0; fi
    local d="" part
    local IFS=/
    for part in $LOCAL_DIR; do
        [[ -z "$part" ]] && continue
        d="$d/$part"
        if ! runuser -u postgres -- test -x "$d"; then
            log "chmod o+x $d (so the postgres user can reach $PG_DATA)"
            chmod o+x "$d"
        fi
    done
}

pg_running() {
    [[ -f "$PG_DATA/PG_VERSION" ]] || return 1
    as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

# Port recorded by the running postmaster (line 4 of postmaster.pid).
pg_running_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_superpass() { cat "$PG_SUPERPASS_FILE"; }

pg_initdb() {
    log "initdb $PG_DATA (PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'))"
    mkdir -p "$PG_DATA"
    chmod 700 "$PG_DATA"
    # Random superuser password; initdb reads it from a file the postgres user can read.
    local pw pwfile="$PG_DATA.pwfile"
    pw="$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
    (umask 077 && printf '%s\n' "$pw" >"$PG_SUPERPASS_FILE")
    (umask 077 && printf '%s\n' "$pw" >"$pwfile")
    if [[ $EUID -eq 0 ]]; then chown postgres: "$PG_DATA" "$pwfile"; fi
    if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" \
        --auth=scram-sha-256 --encoding=UTF8 --locale=C >"$LOCAL_DIR/initdb.log" 2>&1; then
        rm -f "$pwfile"
        cat "$LOCAL_DIR/initdb.log"
        die "initdb failed (log: $LOCAL_DIR/initdb.log); remove $PG_DATA before retrying"
    fi
    rm -f "$pwfile"
    echo "include 'tocsin.conf'" >>"$PG_DATA/postgresql.conf"
}

pg_write_conf() {
    # PostgreSQL insists that its key belongs to it and nobody else reads it.
    ensure_tls_certs
    mkdir -p "$PG_DATA/tls"
    cp "$TLS_DIR/server.pem" "$TLS_DIR/server.key" "$PG_DATA/tls/"
    chmod 600 "$PG_DATA/tls/server.key"
    if [[ $EUID -eq 0 ]]; then chown -R postgres: "$PG_DATA/tls"; fi
    # Rewritten on every start so changes here (and TOCSIN_PG_PORT) apply.
    cat >"$PG_DATA/tocsin.conf" <<EOF
# Managed by scripts/local-infra.sh - rewritten on every 'up'.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 300
shared_buffers = 256MB
# A backend that evicts a dirty buffer writes it into the page cache; by default the kernel sends
# it to disk only when it is 30 s old, so under a burst hundreds of MB pile up and a later flush
# makes a commit's WAL fsync wait 50 to 100 ms. Pushing them out every 256 kB keeps the dirty pile
# small and commits fast (docs/benchmarks.md, "Slow seconds").
backend_flush_after = 256kB
logging_collector = off
ssl = on
ssl_cert_file = 'tls/server.pem'
ssl_key_file = 'tls/server.key'
EOF
    if [[ $EUID -eq 0 ]]; then chown postgres: "$PG_DATA/tocsin.conf"; fi
}

log_tail() {
    local f="$1"
    if [[ -f "$f" ]]; then
        printf -- '--- last lines of %s ---\n' "$f"
        tail -n 30 "$f"
        printf -- '---\n'
    fi
}

port_busy() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_up() {
    mkdir -p "$LOCAL_DIR"
    ensure_pg_traversal
    if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
        [[ -e "$PG_DATA" && -n "$(ls -A "$PG_DATA" 2>/dev/null)" ]] \
            && die "$PG_DATA exists but is not a PostgreSQL data dir; remove it"
        pg_initdb
    fi
    [[ -f "$PG_SUPERPASS_FILE" ]] || die "$PG_SUPERPASS_FILE is missing; run 'make clean' (or remove $PG_DATA) to start over"

    if pg_running; then
        local p
        p="$(pg_running_port)"
        if [[ -n "$p" && "$p" != "$PG_PORT" ]]; then
            die "PostgreSQL from $PG_DATA already runs on port $p, not $PG_PORT; run '$0 down' first"
        fi
        log "PostgreSQL already running on 127.0.0.1:$PG_PORT (reusing)"
    else
        port_busy "$PG_PORT" && die "port $PG_PORT is already in use by another process (set TOCSIN_PG_PORT)"
        pg_write_conf
        touch "$PG_LOG"
        if [[ $EUID -eq 0 ]]; then chown postgres: "$PG_LOG"; fi
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
        if ! as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$WAIT_SECS" >/dev/null; then
            log_tail "$PG_LOG"
            die "PostgreSQL did not start"
        fi
    fi

    local isready deadline=$((SECONDS + WAIT_SECS))
    isready="$(pg_tool pg_isready)"
    until "$isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
        if ((SECONDS >= deadline)); then
            log_tail "$PG_LOG"
            die "PostgreSQL not accepting connections on 127.0.0.1:$PG_PORT after ${WAIT_SECS}s"
        fi
        sleep 0.5
    done

    # Role and database, created once (checked every time, cheap).
    local psql=()
    psql=("$(pg_tool psql)" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tA)
    export PGPASSWORD
    PGPASSWORD="$(pg_superpass)"
    if [[ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'tocsin'")" != 1 ]]; then
        log "creating role tocsin"
        "${psql[@]}" -c "CREATE ROLE tocsin LOGIN CREATEDB PASSWORD 'tocsin'"
    fi
    if [[ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'tocsin'")" != 1 ]]; then
        log "creating database tocsin"
        "${psql[@]}" -c "CREATE DATABASE tocsin OWNER tocsin"
    fi
    unset PGPASSWORD
}

pg_down() {
    if ! find_pg_bin || [[ ! -f "$PG_DATA/PG_VERSION" ]]; then return 0; fi
    if pg_running; then
        log "stopping PostgreSQL ($PG_DATA)"
        as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t "$WAIT_SECS" >/dev/null
    fi
}

# ------------------------------------------------------------------- redis ---

redis_pid() {
    local pid
    [[ -f "$REDIS_PID" ]] || return 1
    pid="$(cat "$REDIS_PID" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# Port of the running Redis, from the config it was started with.
redis_conf_port() { awk '$1 == "port" {print $2}' "$REDIS_CONF" 2>/dev/null || true; }

redis_up() {
    mkdir -p "$REDIS_DIR"
    if redis_pid >/dev/null; then
        local p
        p="$(redis_conf_port)"
        if [[ -n "$p" && "$p" != "$REDIS_PORT" ]]; then
            die "Redis from $REDIS_DIR already runs on port $p, not $REDIS_PORT; run '$0 down' first"
        fi
        log "Redis already running on 127.0.0.1:$REDIS_PORT (reusing)"
    else
        port_busy "$REDIS_PORT" && die "port $REDIS_PORT is already in use by another process (set TOCSIN_REDIS_PORT)"
        port_busy "$REDIS_TLS_PORT" && die "port $REDIS_TLS_PORT (Redis TLS) is already in use by another process (set TOCSIN_REDIS_PORT)"
        ensure_tls_certs
        cat >"$REDIS_CONF" <<EOF
# Managed by scripts/local-infra.sh - rewritten on every 'up'.
bind 127.0.0.1
port $REDIS_PORT
daemonize yes
pidfile $REDIS_PID
logfile $REDIS_LOG
dir $REDIS_DIR
maxmemory-policy noeviction
appendonly yes
appendfsync everysec
# The append-only file is what keeps the streams; RDB snapshots on top of it would fork and
# compress the whole dataset every minute under load (a tenth of both cores in make bench).
save ""
tls-port $REDIS_TLS_PORT
tls-cert-file $TLS_DIR/server.pem
tls-key-file $TLS_DIR/server.key
tls-ca-cert-file $TLS_DIR/ca.pem
tls-auth-clients no
EOF
        rm -f "$REDIS_PID"
        log "starting Redis on 127.0.0.1:$REDIS_PORT (log: $REDIS_LOG)"
        if ! redis-server "$REDIS_CONF" 3>&-; then  # 3>&-: see as_pg
            log_tail "$REDIS_LOG"
            die "Redis did not start"
        fi
    fi

    local start=$SECONDS deadline=$((SECONDS + WAIT_SECS))
    until [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; do
        # The daemonized child may die after redis-server returned 0 (e.g. bind error).
        if ((SECONDS - start >= 2)) && ! redis_pid >/dev/null; then
            log_tail "$REDIS_LOG"
            die "Redis exited during startup"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$REDIS_LOG"
            die "Redis not answering PING on 127.0.0.1:$REDIS_PORT after ${WAIT_SECS}s"
        fi
        sleep 0.2
    done
}

redis_down() {
    local pid p
    pid="$(redis_pid)" || return 0
    log "stopping Redis (pid $pid)"
    p="$(redis_conf_port)"
    # SHUTDOWN flushes the append-only file; fall back to SIGTERM (also a clean shutdown).
    redis-cli -h 127.0.0.1 -p "${p:-$REDIS_PORT}" shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + WAIT_SECS))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || die "Redis (pid $pid) did not stop within ${WAIT_SECS}s"
        sleep 0.2
    done
    rm -f "$REDIS_PID"
}

# -------------------------------------------------------------------- main ---

cmd_status() {
    local n=0
    if find_pg_bin && pg_running; then
        echo "postgres: running on 127.0.0.1:$(pg_running_port) (data $PG_DATA)" >&3; n=$((n + 1))
    else
        echo "postgres: not running" >&3
    fi
    local pid
    if pid="$(redis_pid)"; then
        echo "redis:    running on 127.0.0.1:$(redis_conf_port) (pid $pid, dir $REDIS_DIR)" >&3; n=$((n + 1))
    else
        echo "redis:    not running" >&3
    fi
    case $n in 2) return 0 ;; 1) return 1 ;; *) return 3 ;; esac
}

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
    up)
        ensure_binaries
        pg_up
        redis_up
        log "ready: PostgreSQL 127.0.0.1:$PG_PORT, Redis 127.0.0.1:$REDIS_PORT"
        print_env
        ;;
    down)
        rc=0
        pg_down || rc=1
        redis_down || rc=1
        exit "$rc"
        ;;
    env) print_env ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
esac
