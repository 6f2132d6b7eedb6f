# shellcheck shell=bash
# A database of a benchmark's own, for scripts/bench.sh and scripts/bench-data.sh, so that earlier
# incidents do not skew the figures and a developer's data is left alone. Sourced, not run.
#
# The sourcing script defines `log`, has DATABASE_URL (any database on the server) and has built
# target/release/tocsin-incident-core, then calls:
#   bench_database_create PREFIX [keep]
#       drops the databases PREFIX_<pid> whose run is gone (a run still going elsewhere keeps its
#       own), creates PREFIX_<this pid> with tocsin's schema and sets BENCH_DATABASE (its name) and
#       BENCH_DATABASE_URL; dropped again on exit unless `keep`.

bench_database_drop() {
    # A plain DROP waits out autovacuum, which a run leaves busy on the database; FORCE ends the
    # connections an interrupted run left open, but may not end autovacuum's worker (not ours).
    local attempt
    for attempt in 1 2 3 4 5; do
        psql "$DATABASE_URL" -q -c "DROP DATABASE IF EXISTS $1" 2>/dev/null && return 0
        psql "$DATABASE_URL" -q -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" 2>/dev/null && return 0
        [[ $attempt -lt 5 ]] && sleep 2
    done
    log "could not drop the database $1; drop it by hand"
    return 1
}

bench_database_create() {
    local prefix=$1 keep=${2:-} stale
    for stale in $(psql "$DATABASE_URL" -Atc "SELECT datname FROM pg_database WHERE datname ~ '^${prefix}_[0-9]+\$'"); do
        if [[ ! -e /proc/${stale#"${prefix}_"} ]]; then
            log "dropping $stale, left by an earlier run"
            bench_database_drop "$stale" || true
        fi
    done
    BENCH_DATABASE="${prefix}_$$"
    BENCH_DATABASE_URL="${DATABASE_URL%/*}/$BENCH_DATABASE"
    if [[ "$keep" == keep ]]; then
        log "keeping $BENCH_DATABASE afterwards: $BENCH_DATABASE_URL"
    else
        trap 'bench_database_drop "$BENCH_DATABASE"' EXIT
    fi
    psql "$DATABASE_URL" -q -c "CREATE DATABASE $BENCH_DATABASE"
    DATABASE_URL="$BENCH_DATABASE_URL" RUST_LOG=warn target/release/tocsin-incident-core migrate
}
