#!/usr/bin/env bash
# `make bench`: release build, a database of its own, then tocsin-bench (crates/loadgen/src/bin/bench.rs,
# its parts in crates/loadgen/src/bench/) runs the services as separate processes and measures them.
# Uses DATABASE_URL and REDIS_URL when both are set, else the project-local PostgreSQL and Redis
# (scripts/local-infra.sh).
#
# The database, tocsin_bench_<pid>, is dropped at the end; one an interrupted run left is dropped at
# the start of the next, once the run that made it is gone. The services listen on free local ports
# and the streams are named after the bench's pid, so two checkouts can run it on one machine
# without taking each other's ports, database or streams (though their figures then share the cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'bench: %s\n' "$*" >&2; }

cargo build --release -p tocsin-ingest -p tocsin-incident-core -p tocsin-query -p tocsin-notifier -p tocsin-loadgen

if [[ -z "${DATABASE_URL:-}" || -z "${REDIS_URL:-}" ]]; then
    infra_env="$(bash scripts/local-infra.sh up)"
    eval "$infra_env"
fi

drop_database() {
    # A plain DROP waits out autovacuum, which a run leaves busy on the database; FORCE ends
    # connections an interrupted run left open, but may not end autovacuum's worker (not ours).
    for attempt in 1 2 3 4 5; do
        psql "$DATABASE_URL" -q -c "DROP DATABASE IF EXISTS $1" 2>/dev/null && return 0
        psql "$DATABASE_URL" -q -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" 2>/dev/null && return 0
        [[ $attempt -lt 5 ]] && sleep 2
    done
    log "could not drop the database $1; drop it by hand"
    return 1
}

# Databases of earlier runs whose process is gone (a run still going elsewhere keeps its own).
for stale in $(psql "$DATABASE_URL" -Atc "SELECT datname FROM pg_database WHERE datname ~ '^tocsin_bench_[0-9]+$'"); do
    if [[ ! -e /proc/${stale#tocsin_bench_} ]]; then
        log "dropping $stale, left by an earlier run"
        drop_database "$stale" || true
    fi
done

# A database of its own, created for this run, so earlier incidents do not skew the figures.
database="tocsin_bench_$$"
bench_database_url="${DATABASE_URL%/*}/$database"
trap 'drop_database "$database"' EXIT
psql "$DATABASE_URL" -q -c "CREATE DATABASE $database"
DATABASE_URL="$bench_database_url" RUST_LOG=warn target/release/tocsin-incident-core migrate

mkdir -p .local
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg)" |
    tee .local/bench-last.txt
BENCH_BIN_DIR=target/release BENCH_DATABASE_URL="$bench_database_url" target/release/tocsin-bench | tee -a .local/bench-last.txt
