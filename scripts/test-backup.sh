#!/usr/bin/env bash
# The backup and restore round trip of docs/operations.md, for real, against the project-local
# PostgreSQL (scripts/local-infra.sh):
#   1. a scratch database, migrated with `tocsin-incident-core migrate`, with a few incidents,
#      alerts, timeline entries, outbox events, command outcomes and notification rows;
#   2. deploy/backup/backup.sh (the script the chart's backup CronJob runs) to a temporary folder
#      (BACKUP_DESTINATION=file://...): pg_dump --format=custom, checked, copied;
#   3. `pg_restore --clean --if-exists --no-owner` of that file into a second, empty database, then
#      `tocsin-incident-core migrate` on it (which must find nothing to do);
#   4. every table of the source compared with the restore: row count and an md5 of all its rows
#      in primary-key order; the sequences' positions; the applied migrations.
# Any difference fails. Both scratch databases and the folder are removed on exit, whatever happens.
# Not covered here: the upload to Azure Blob Storage with azcopy and Workload Identity (no Azure
# account on this machine), and the container image (no container engine).
# Needs: pg_dump, pg_restore and psql on PATH; target/debug/tocsin-incident-core (built if missing).
# Prints one summary line last; exit status non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
started=$SECONDS

eval "$(bash scripts/local-infra.sh up)"
: "${DATABASE_URL:?local-infra.sh printed no DATABASE_URL}"

core=$root/target/debug/tocsin-incident-core
if [[ ! -x $core ]]; then
    echo "test-backup: building tocsin-incident-core" >&2
    cargo build --quiet -p tocsin-incident-core
fi

base=${DATABASE_URL%/*}
suffix="$$_$RANDOM"
source_db=tocsin_backup_src_$suffix
restore_db=tocsin_backup_dst_$suffix
source_url=$base/$source_db
restore_url=$base/$restore_db
dir=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-test-backup.XXXXXX")

psql_on() { local url=$1; shift; psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --dbname="$url" "$@"; }
cleanup() {
    local status=$?
    for db in "$source_db" "$restore_db"; do
        psql_on "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
            || echo "test-backup: could not drop $db" >&2
    done
    rm -rf "$dir"
    exit "$status"
}
trap cleanup EXIT
fail() { echo "test-backup: FAIL: $*" >&2; exit 1; }

psql_on "$DATABASE_URL" -c "CREATE DATABASE $source_db" -c "CREATE DATABASE $restore_db"
DATABASE_URL=$source_url LOG_FORMAT=text RUST_LOG=warn "$core" migrate >/dev/null

# --- data ------------------------------------------------------------------------------------------
# Plain SQL: the rows only have to be real rows of the real schema, with every column type the
# schema uses (uuid, jsonb, timestamptz, NULLs, serials) so the comparison means something.
psql_on "$source_url" >/dev/null <<'SQL'
INSERT INTO incidents (id, correlation_key, title, service, environment, severity, team, status,
                       assignee, runbook_url, source_fingerprint, source_starts_at, source_labels,
                       alert_count, firing_count, opened_at, acknowledged_at, acknowledged_by,
                       resolved_at, resolved_by, version)
SELECT md5('incident' || i)::uuid,
       'service=svc' || i || ',environment=prod',
       'HighErrorRate on svc' || i || ' – naïve "quotes", tabs	and ünicode',
       'svc' || i, 'prod',
       (ARRAY['info', 'warning', 'high', 'critical'])[1 + i % 4],
       'team-' || (i % 3),
       (ARRAY['open', 'acknowledged', 'resolved'])[1 + i % 3],
       CASE WHEN i % 3 > 0 THEN 'alice' END,
       CASE WHEN i % 2 = 0 THEN 'https://runbooks.example.com/' || i END,
       md5('fp' || i),
       timestamptz '2026-11-01 10:00:00+00' + i * interval '1 minute',
       jsonb_build_object('alertname', 'HighErrorRate', 'service', 'svc' || i, 'n', i),
       2, CASE WHEN i % 3 = 2 THEN 0 ELSE 1 END,
       timestamptz '2026-11-01 10:00:01.123456+00' + i * interval '1 minute',
       CASE WHEN i % 3 > 0 THEN timestamptz '2026-11-01 11:00:00+00' END,
       CASE WHEN i % 3 > 0 THEN 'alice' END,
       CASE WHEN i % 3 = 2 THEN timestamptz '2026-11-01 12:00:00+00' END,
       CASE WHEN i % 3 = 2 THEN 'bob' END,
       1 + i % 3
FROM generate_series(1, 50) AS i;

INSERT INTO alerts (incident_id, fingerprint, starts_at, ends_at, state, labels, annotations,
                    generator_url, receiver, group_key, first_received_at, last_received_at,
                    last_firing_report_at)
SELECT md5('incident' || i)::uuid, md5('fp' || i || '-' || j),
       timestamptz '2026-11-01 10:00:00+00' + i * interval '1 minute',
       CASE WHEN j = 2 THEN timestamptz '2026-11-01 10:30:00+00' END,
       CASE WHEN j = 2 THEN 'resolved' ELSE 'firing' END,
       jsonb_build_object('alertname', 'HighErrorRate', 'instance', 'pod-' || j),
       jsonb_build_object('summary', 'errors above 5%', 'runbook_url', 'https://runbooks.example.com/' || i),
       'http://prometheus:9090/graph?g0.expr=' || i, 'tocsin', '{}:{alertname="HighErrorRate"}',
       now(), now(), now()
FROM generate_series(1, 50) AS i, generate_series(1, 2) AS j;

INSERT INTO timeline_entries (incident_id, at, kind, actor, status, detail)
SELECT md5('incident' || i)::uuid,
       timestamptz '2026-11-01 10:00:01+00' + i * interval '1 minute' + k * interval '1 second',
       (ARRAY['opened', 'alert_added', 'acknowledged'])[k], 'tocsin',
       CASE WHEN k = 1 THEN 'open' WHEN k = 3 THEN 'acknowledged' END,
       jsonb_build_object('step', k, 'note', E'line one\nline two')
FROM generate_series(1, 50) AS i, generate_series(1, 3) AS k;

-- One row per transaction: its events as a JSON array, their ids and trace contexts beside it.
INSERT INTO outbox (events, event_ids, traceparents)
SELECT '[{"type":"incident.opened","n":' || i || '},{"type":"incident.alert_added","n":' || i || '}]',
       ARRAY[md5('event' || i)::uuid, md5('event-added' || i)::uuid],
       ARRAY[CASE WHEN i % 2 = 0 THEN '00-' || md5('t' || i) || '-' || left(md5('s' || i), 16) || '-01' END, NULL]
FROM generate_series(1, 10) AS i;

INSERT INTO command_outcomes (command_id, incident_id, action, actor, outcome)
SELECT md5('command' || i)::uuid, md5('incident' || i)::uuid, 'acknowledge', 'alice', '{"ok":true}'
FROM generate_series(1, 10) AS i;

INSERT INTO notification_deliveries (event_id, target, incident_id, event, status, attempts, last_error)
SELECT md5('event' || i)::uuid, 'slack-oncall', md5('incident' || i)::uuid, '{"n":' || i || '}',
       (ARRAY['pending', 'sent', 'dead'])[1 + i % 3], i % 4, CASE WHEN i % 3 = 2 THEN 'HTTP 500' END
FROM generate_series(1, 10) AS i;

INSERT INTO notification_threads (incident_id, target, channel, reference)
SELECT md5('incident' || i)::uuid, 'slack-oncall', 'C0123', '1700000000.00' || i
FROM generate_series(1, 5) AS i;
SQL

# --- backup ----------------------------------------------------------------------------------------
summary=$(DATABASE_URL=$source_url BACKUP_DESTINATION="file://$dir/store" BACKUP_PREFIX=postgres \
    BACKUP_NAME=test BACKUP_WORK_DIR="$dir" bash deploy/backup/backup.sh) || fail "backup.sh failed"
shopt -s nullglob
dumps=("$dir"/store/postgres/tocsin-test-*.dump)
((${#dumps[@]} == 1)) || fail "expected one dump in $dir/store/postgres, found ${#dumps[@]}"
dump=${dumps[0]}
[[ $(basename "$dump") =~ ^tocsin-test-[0-9]{8}T[0-9]{6}Z\.dump$ ]] || fail "unexpected name $(basename "$dump")"
[[ -z $(find "$dir" -maxdepth 1 -name 'tocsin-backup.*') ]] || fail "backup.sh left its scratch folder behind"

# backup.sh must fail loudly: a database that does not exist, and a destination it cannot write.
if DATABASE_URL=$base/tocsin_backup_missing_$suffix BACKUP_DESTINATION="file://$dir/bad" \
    BACKUP_WORK_DIR="$dir" bash deploy/backup/backup.sh >/dev/null 2>&1; then
    fail "backup.sh exited 0 although pg_dump could not connect"
fi
[[ -z $(find "$dir/bad" -name '*.dump' 2>/dev/null) ]] || fail "a failed backup left a dump at the destination"
touch "$dir/not-a-folder"
if DATABASE_URL=$source_url BACKUP_DESTINATION="file://$dir/not-a-folder" \
    BACKUP_WORK_DIR="$dir" bash deploy/backup/backup.sh >/dev/null 2>&1; then
    fail "backup.sh exited 0 although the destination is not writable"
fi

# --- restore (docs/operations.md, "Restore") -------------------------------------------------------
pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error \
    --dbname="$restore_url" "$dump" || fail "pg_restore failed"
DATABASE_URL=$restore_url LOG_FORMAT=text RUST_LOG=warn "$core" migrate >/dev/null \
    || fail "tocsin-incident-core migrate failed on the restored database"

# --- compare ---------------------------------------------------------------------------------------
# One line per table: name, rows, md5 of the rows in primary-key order (every column, as text);
# then each sequence's last value. Generated from the catalogue, so a new table is compared too.
fingerprint() {
    psql_on "$1" --tuples-only --no-align --field-separator=' ' <<'SQL'
SELECT format(
         'SELECT %L, count(*), coalesce(md5(string_agg(t::text, %L ORDER BY %s)), %L) FROM %I.%I AS t',
         c.relname, E'\n', coalesce(pk.cols, 't::text'), '-', n.nspname, c.relname)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
    SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY k.ord) AS cols
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = c.oid AND i.indisprimary
) pk ON true
WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'
ORDER BY c.relname
\gexec
SELECT format('SELECT %L, last_value, is_called FROM %I.%I', 'sequence ' || sequencename, schemaname, sequencename)
FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename
\gexec
SQL
}
fingerprint "$source_url" >"$dir/source.txt"
fingerprint "$restore_url" >"$dir/restore.txt"
if ! diff -u "$dir/source.txt" "$dir/restore.txt" >"$dir/diff.txt"; then
    cat "$dir/diff.txt" >&2
    fail "the restored database differs from the source"
fi
tables=$(grep -vc '^sequence ' "$dir/source.txt")
rows=$(awk '!/^sequence / {n += $2} END {print n}' "$dir/source.txt")
grep -q '^incidents 50 ' "$dir/source.txt" || fail "the source has not the 50 incidents inserted: $(cat "$dir/source.txt")"
echo "test-backup: ok: ${summary#backup: }; restored and compared $tables tables ($rows rows, md5 of each) and $(grep -c '^sequence ' "$dir/source.txt") sequences: identical; $((SECONDS - started)) s"
