#!/usr/bin/env bash
# Checks tocsin's Prometheus rules and Grafana dashboards (dashboards/), offline:
#   1. promtool check rules on dashboards/rules/*.yml (syntax, PromQL, templates);
#   2. promtool test rules on dashboards/rules/tests/*.yml (each alert fires when it should and
#      stays quiet otherwise; values of the key recording rules);
#   3. dashboards/tests/check_dashboards.py on dashboards/*.json (valid JSON, the datasource
#      template variable used by every panel and target, unique panel ids, descriptions, known
#      metric names, and every expr accepted by promtool as a recording rule).
# Needs promtool (Debian: apt-get install prometheus) and python3; PROMTOOL=... overrides.
# Exit status: non-zero if any check fails. The last line is "N passed, N failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

promtool=${PROMTOOL:-promtool}
command -v "$promtool" >/dev/null || { echo "lint-rules: promtool not found (apt-get install prometheus)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "lint-rules: python3 not found" >&2; exit 1; }

passed=0
failed=0
check() { # check <what> <command...>: runs the command, counts and reports it
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "ok - $what"
    else
        failed=$((failed + 1))
        echo "not ok - $what"
        sed 's/^/    /' <<<"$out"
    fi
}

echo "--- promtool check rules" >&2
shopt -s nullglob
rule_files=(dashboards/rules/*.yml)
tests=(dashboards/rules/tests/*.yml)
((${#rule_files[@]})) || { echo "lint-rules: no dashboards/rules/*.yml" >&2; exit 1; }
((${#tests[@]})) || { echo "lint-rules: no dashboards/rules/tests/*.yml" >&2; exit 1; }
for file in "${rule_files[@]}"; do
    check "promtool check rules $file" "$promtool" check rules "$file"
done

echo "--- promtool test rules" >&2
for file in "${tests[@]}"; do
    check "promtool test rules $file" "$promtool" test rules "$file"
done

echo "--- dashboards" >&2
dash_out=$(python3 dashboards/tests/check_dashboards.py --promtool "$promtool") && dash_rc=0 || dash_rc=$?
grep -v '^ok - ' <<<"$dash_out" | sed '$d' || true  # failures only; the summary is added below
summary=$(tail -n 1 <<<"$dash_out")
if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    echo "dashboards: $summary"
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    if ((dash_rc != 0 && BASH_REMATCH[2] == 0)); then failed=$((failed + 1)); fi
else
    echo "not ok - dashboards/tests/check_dashboards.py ended without a summary (exit $dash_rc)"
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
((failed == 0))
