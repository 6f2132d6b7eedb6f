#!/usr/bin/env bash
# The HTTP APIs against their OpenAPI documents, and the load-test scripts, on the real stack.
#
#   scripts/test-api-schema.sh              both, in this order, on one stack
#   scripts/test-api-schema.sh schema       Schemathesis against query's and ingest's /openapi.json
#   scripts/test-api-schema.sh load         loadtest/locustfile.py for a few seconds, and
#                                           loadtest/k6/alerts.js under Node
#
# - Builds the four services, makes sure the test tools are there (scripts/test-tools.sh:
#   schemathesis and locust in .local/venv), and starts the stack with scripts/run-local.sh on
#   127.0.0.1, ports TOCSIN_API_TEST_PORT_BASE to +3 (default 18080-18083, so that a developer's
#   `make run` on 8080-8083 is left alone), with a database (tocsin_api_test_<pid>) and a Redis
#   stream prefix of its own, both removed at exit. Tokens are generated for the run. The stack
#   has TOCSIN_API_TEST_READY_TIMEOUT (default 120) seconds to become ready.
# - schema: posts the captured webhooks (testdata/alertmanager/raw) so that the incident routes
#   answer with data, then runs `schemathesis run` on each document, SCHEMATHESIS_MAX_EXAMPLES
#   (default 100) examples per operation, with the checks not_a_server_error (no 5xx),
#   status_code_conformance (every status is a documented one), content_type_conformance and
#   response_schema_conformance (every body matches its schema), and ignored_auth (a request
#   without the token is refused). GET /events, an endless stream, is left out: Schemathesis
#   would wait for its end. SCHEMATHESIS_ARGS adds arguments to both runs (e.g. `--seed N` to
#   replay a run, `--report ndjson`).
# - load: locust headless, 5 users for 5 s; passes when webhooks were sent, none failed, and
#   incidents of the load test's environment are listed by the query API. Then the k6 script
#   under Node against the same ingest (loadtest/k6/node-check.mjs; k6 is not installed here).
# Exits non-zero on any failure; the stack is stopped on every exit (trap).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="$ROOT/.local/venv"
PORT_BASE="${TOCSIN_API_TEST_PORT_BASE:-18080}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
read -r -a EXTRA_ARGS <<<"${SCHEMATHESIS_ARGS:-}"
READY_TIMEOUT="${TOCSIN_API_TEST_READY_TIMEOUT:-120}"
if (($#)); then MODES=("$@"); else MODES=(schema load); fi

log() { printf '[api-test] %s\n' "$*" >&2; }
die() { printf '[api-test] ERROR: %s\n' "$*" >&2; exit 1; }

for mode in "${MODES[@]}"; do
    case "$mode" in
        schema | load) ;;
        *) die "usage: scripts/test-api-schema.sh [schema|load]..." ;;
    esac
done
command -v curl >/dev/null 2>&1 || die "curl is needed"

log "building the services"
(cd "$ROOT" && cargo build -q -p tocsin-ingest -p tocsin-incident-core -p tocsin-query -p tocsin-notifier)
bash "$ROOT/scripts/test-tools.sh"

# ------------------------------------------------------------------- stack ---

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tocsin-api-test.XXXXXX")"
stack_on_exit() { rm -rf "$WORK"; }
STACK_READY_TIMEOUT="$READY_TIMEOUT"
# shellcheck source=scripts/lib/test-stack.sh
source "$ROOT/scripts/lib/test-stack.sh"
stack_up api-test
QUERY_URL="http://127.0.0.1:$PORT_BASE"
INGEST_URL="http://127.0.0.1:$((PORT_BASE + 1))"
log "the stack's ports: $PORT_BASE-$((PORT_BASE + 3))"
stack_start TOCSIN_PORT_BASE="$PORT_BASE" RUST_LOG="${RUST_LOG:-warn}"

# The number of incidents GET /incidents lists with the query string `$1`.
incident_count() {
    curl -sS --max-time 5 -H "Authorization: Bearer $API_TOKEN" "$QUERY_URL/incidents?limit=500&$1" |
        "$VENV/bin/python" -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))'
}

# Waits up to 30 s for GET /incidents?$1 to list at least one incident.
wait_for_incidents() {
    local deadline=$((SECONDS + 30)) count=0
    while ((SECONDS < deadline)); do
        count="$(incident_count "$1" || echo 0)"
        ((count > 0)) && { echo "$count"; return 0; }
        sleep 0.5
    done
    return 1
}

# ------------------------------------------------------------------ schema ---

run_schemathesis() {
    local name="$1" url="$2" token="$3"
    shift 3
    log "schemathesis: $name ($url/openapi.json, $MAX_EXAMPLES examples per operation)"
    # From the run's folder: Schemathesis and Hypothesis keep their state in the current one.
    (cd "$WORK" && "$VENV/bin/schemathesis" run "$url/openapi.json" \
        --header "Authorization: Bearer $token" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth \
        --max-examples "$MAX_EXAMPLES" \
        --request-timeout 15 \
        --workers 1 \
        --suppress-health-check too_slow \
        "${EXTRA_ARGS[@]}" \
        "$@") || die "schemathesis found problems in the $name API (above)"
}

schema_tests() {
    log "posting the captured webhooks"
    local fixture
    for fixture in "$ROOT"/testdata/alertmanager/raw/*.json; do
        curl -sS --fail-with-body --max-time 10 -o /dev/null -H "Authorization: Bearer $INGEST_TOKEN" \
            -H 'Content-Type: application/json' --data-binary "@$fixture" "$INGEST_URL/alerts" ||
            die "ingest refused $fixture"
    done
    wait_for_incidents "" >/dev/null || die "no incident appeared after posting the captured webhooks"
    run_schemathesis query "$QUERY_URL" "$API_TOKEN" --exclude-path /events
    run_schemathesis ingest "$INGEST_URL" "$INGEST_TOKEN"
}

# -------------------------------------------------------------------- load ---

load_tests() {
    local run_id="api-test-$$" environment="loadtest-$$"
    log "locust: 5 users, 5 s against $INGEST_URL"
    TOCSIN_INGEST_TOKEN="$INGEST_TOKEN" LOADTEST_RUN_ID="$run_id" LOADTEST_ENVIRONMENT="$environment" \
        LOADTEST_WEBHOOKS_PER_SECOND=4 \
        "$VENV/bin/locust" -f "$ROOT/loadtest/locustfile.py" --headless --users 5 --spawn-rate 5 --run-time 5s \
        --host "$INGEST_URL" --csv "$WORK/locust" --exit-code-on-error 1 --only-summary --loglevel WARNING ||
        die "locust reported failed webhooks (above)"
    "$VENV/bin/python" - "$WORK/locust_stats.csv" <<'PY' || die "locust's statistics show no webhooks sent, or failures"
import csv, sys
rows = {row["Name"]: row for row in csv.DictReader(open(sys.argv[1]))}
total = rows["Aggregated"]
sent, failed = int(total["Request Count"]), int(total["Failure Count"])
print(f"[api-test] locust: {sent} webhooks sent, {failed} failed", file=sys.stderr)
sys.exit(0 if sent > 0 and failed == 0 else 1)
PY
    local count
    count="$(wait_for_incidents "environment=$environment")" ||
        die "no incident of environment $environment appeared in GET /incidents after the locust run"
    log "locust: $count incidents of environment $environment listed by the query API"

    log "k6 script under Node against $INGEST_URL"
    command -v node >/dev/null 2>&1 || die "node is needed to check loadtest/k6/alerts.js"
    TOCSIN_INGEST_URL="$INGEST_URL" TOCSIN_INGEST_TOKEN="$INGEST_TOKEN" LOADTEST_RUN_ID="$run_id-k6" \
        LOADTEST_ENVIRONMENT="$environment-k6" node "$ROOT/loadtest/k6/node-check.mjs" 30 ||
        die "the k6 script failed under Node (above)"
    count="$(wait_for_incidents "environment=$environment-k6")" ||
        die "no incident of environment $environment-k6 appeared in GET /incidents after the k6 script"
    log "k6 script: $count incidents of environment $environment-k6 listed by the query API"
}

for mode in "${MODES[@]}"; do
    case "$mode" in
        schema) schema_tests ;;
        load) load_tests ;;
    esac
done
log "passed"
