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

# shellcheck source=scripts/lib/bench-database.sh
source scripts/lib/bench-database.sh
bench_database_create tocsin_bench

mkdir -p .local
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg)" |
    tee .local/bench-last.txt
BENCH_BIN_DIR=target/release BENCH_DATABASE_URL="$BENCH_DATABASE_URL" target/release/tocsin-bench | tee -a .local/bench-last.txt
