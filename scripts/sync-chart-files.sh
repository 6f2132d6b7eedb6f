#!/usr/bin/env bash
# Copies the Prometheus rules and Grafana dashboards into the Helm chart, which renders them as a
# PrometheusRule and dashboard ConfigMaps. Helm reads only files inside the chart, so the chart
# keeps copies; dashboards/ stays the one place they are edited and tested (scripts/lint-rules.sh).
#
#   dashboards/*.json        -> deploy/helm/tocsin/files/dashboards/
#   dashboards/rules/*.yml   -> deploy/helm/tocsin/files/rules/     (not the promtool tests)
#
# Usage: scripts/sync-chart-files.sh          copy, and delete copies whose original is gone
#        scripts/sync-chart-files.sh --check  change nothing; exit 1 and name every copy that is
#                                             missing, different or left over (lint-deploy.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

check=false
case ${1:-} in
    "") ;;
    --check) check=true ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

chart_files=deploy/helm/tocsin/files
stale=0

# sync SOURCE_DIR PATTERN COPY_DIR
sync() {
    local source_dir=$1 pattern=$2 copy_dir=$3 source copy name
    $check || mkdir -p "$copy_dir"
    for source in "$source_dir"/$pattern; do
        [[ -e $source ]] || continue
        copy=$copy_dir/$(basename "$source")
        if ! cmp -s "$source" "$copy"; then
            if $check; then
                if [[ -e $copy ]]; then echo "  differs: $copy (from $source)" >&2
                else echo "  missing: $copy (from $source)" >&2; fi
                stale=$((stale + 1))
            else
                cp "$source" "$copy"
                echo "copied $source -> $copy"
            fi
        fi
    done
    for copy in "$copy_dir"/$pattern; do
        [[ -e $copy ]] || continue
        name=$(basename "$copy")
        if [[ ! -e $source_dir/$name ]]; then
            if $check; then
                echo "  left over: $copy ($source_dir/$name no longer exists)" >&2
                stale=$((stale + 1))
            else
                rm "$copy"
                echo "removed $copy"
            fi
        fi
    done
}

sync dashboards '*.json' "$chart_files/dashboards"
sync dashboards/rules '*.yml' "$chart_files/rules"

if $check && ((stale > 0)); then
    echo "the chart's copies of dashboards/ are out of date ($stale files): run bash scripts/sync-chart-files.sh" >&2
    exit 1
fi
