#!/usr/bin/env bash
# `make bench-data`: release build, a database of its own seeded with a year of incidents, then
# tocsin-bench-data (crates/loadgen/src/bin/bench-data.rs) measures query's reads under 50 clients
# and, when npm and Chromium are there, the dashboard's first render. Arguments go to
# tocsin-bench-data, e.g. `scripts/bench-data.sh --incidents 20000 --alerts 200000` for a small run
# (`make bench-data BENCH_DATA_ARGS='--incidents 20000 --alerts 200000'`).
#
# Uses DATABASE_URL and REDIS_URL when both are set, else the project-local PostgreSQL and Redis
# (scripts/local-infra.sh). The database, tocsin_bench_data_<pid>, is dropped at the end; one left
# by an interrupted run is dropped at the start of the next. BENCH_DATA_KEEP=1 keeps it (to run
# tocsin-bench-data --no-seed against it again). The full year needs about 12 GB of disk while it
# exists. The last run's output is kept in .local/bench-data-last.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'bench-data: %s\n' "$*" >&2; }

cargo build --release -p tocsin-query -p tocsin-incident-core -p tocsin-loadgen

if [[ -z "${DATABASE_URL:-}" || -z "${REDIS_URL:-}" ]]; then
    infra_env="$(bash scripts/local-infra.sh up)"
    eval "$infra_env"
fi

# shellcheck source=scripts/lib/bench-database.sh
source scripts/lib/bench-database.sh
if [[ "${BENCH_DATA_KEEP:-}" == 1 ]]; then
    bench_database_create tocsin_bench_data keep  # to run tocsin-bench-data --no-seed against it again
else
    bench_database_create tocsin_bench_data
fi

render_args=()
if command -v npm >/dev/null 2>&1 && [[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]]; then
    (
        cd services/web
        [[ -d node_modules ]] || npm ci --no-audit --no-fund
        npm run build
    ) >&2
    render_args=(--web-root services/web/dist --render-script crates/loadgen/web/first-render.ts)
else
    log "no npm or no Chromium (${CHROMIUM_PATH:-/usr/bin/chromium}): the first render is not measured"
fi

# The full year takes about 12 GB; say so before filling the disk PostgreSQL (and everyone) shares.
free_gb=$(( $(df -k --output=avail . | tail -1) / 1024 / 1024 ))
if (( free_gb < 13 )); then
    log "only ${free_gb} GB free: the default year needs about 12 GB (smaller: --incidents 100000 --alerts 1000000)"
fi

mkdir -p .local
{
    echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; $(uname -sr); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "disk before seeding: $(df -h --output=avail . | tail -1 | tr -d ' ') free"
} | tee .local/bench-data-last.txt
BENCH_BIN_DIR=target/release BENCH_DATABASE_URL="$BENCH_DATABASE_URL" \
    target/release/tocsin-bench-data "${render_args[@]}" "$@" | tee -a .local/bench-data-last.txt
