#!/usr/bin/env bash
# `make bench`: release build, a fresh database, then tocsin-bench (crates/loadgen/src/bin/bench.rs)
# runs the services as separate processes and measures them. Uses DATABASE_URL and REDIS_URL when
# both are set, else the project-local PostgreSQL and Redis (scripts/local-infra.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release -p tocsin-ingest -p tocsin-incident-core -p tocsin-query -p tocsin-notifier -p tocsin-loadgen

if [[ -z "${DATABASE_URL:-}" || -z "${REDIS_URL:-}" ]]; then
    infra_env="$(bash scripts/local-infra.sh up)"
    eval "$infra_env"
fi

# A database of its own, recreated each run, so earlier incidents do not skew the figures.
bench_database_url="${DATABASE_URL%/*}/tocsin_bench"
# A plain DROP waits out autovacuum, which a previous run leaves busy on the database; FORCE is
# for connections an interrupted run left open, but it may not end autovacuum's worker (not ours).
for attempt in 1 2 3 4 5; do
    if psql "$DATABASE_URL" -q -c 'DROP DATABASE IF EXISTS tocsin_bench' 2>/dev/null \
        || psql "$DATABASE_URL" -q -c 'DROP DATABASE IF EXISTS tocsin_bench WITH (FORCE)' 2>/dev/null; then
        break
    fi
    [[ $attempt -lt 5 ]] || { echo "bench: cannot drop the tocsin_bench database" >&2; exit 1; }
    sleep 2
done
psql "$DATABASE_URL" -q -c 'CREATE DATABASE tocsin_bench'
DATABASE_URL="$bench_database_url" RUST_LOG=warn target/release/tocsin-incident-core migrate

mkdir -p .local
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; $(uname -sr)" | tee .local/bench-last.txt
BENCH_BIN_DIR=target/release BENCH_DATABASE_URL="$bench_database_url" target/release/tocsin-bench | tee -a .local/bench-last.txt
