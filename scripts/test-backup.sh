#!/usr/bin/env bash
# The backup and restore round trips of docs/operations.md, for real, against the project-local
# PostgreSQL (scripts/local-infra.sh) and local stand-ins of the object stores
# (scripts/lib/object-stores.sh):
#   1. a scratch database, migrated with `tocsin-incident-core migrate`, with a few incidents,
#      alerts, timeline entries, outbox events, command outcomes and notification rows;
#   2. deploy/backup/backup.sh (the script the chart's backup CronJob runs) to a temporary folder
#      (BACKUP_DESTINATION=file://...): pg_dump --format=custom, checked, copied;
#   3. `pg_restore --clean --if-exists --no-owner` of that file into a second, empty database, then
#      `tocsin-incident-core migrate` on it (which must find nothing to do);
#   4. every table of the source compared with the restore: row count and an md5 of all its rows
#      in primary-key order; the sequences' positions; the applied migrations;
#   5. backup.sh again, uploading with azcopy to Azure Blob Storage as Azurite emulates it (HTTPS,
#      an account SAS token in BACKUP_DESTINATION), the blob downloaded with azcopy as the restore
#      steps say, restored into a third database and compared the same way;
#   6. `tocsin-incident-core archive` of every day with rows to S3 as moto serves it
#      (ARCHIVE_URL=s3://..., the AWS_* variables), `tocsin-incident-core restore` of those days
#      into a fourth, migrated database, and the archived tables compared the same way.
# Any difference fails. The scratch databases, the servers and the folder are removed on exit,
# whatever happens.
# Not covered here: signing in with Azure Workload Identity (no Azure tenant on this machine), and
# the container images (scripts/test-images.sh runs the backup and archive jobs from them).
# Needs: pg_dump, pg_restore, psql, openssl and curl on PATH; azcopy, Azurite and moto as
# scripts/test-tools.sh installs them; target/debug/tocsin-incident-core (built if missing).
# Prints one summary line last; exit status non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
ROOT=$root
started=$SECONDS
# shellcheck source=scripts/lib/object-stores.sh
source scripts/lib/object-stores.sh

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
blob_db=tocsin_backup_blob_$suffix
archive_db=tocsin_backup_s3_$suffix
source_url=$base/$source_db
restore_url=$base/$restore_db
blob_url=$base/$blob_db
archive_url=$base/$archive_db
dir=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-test-backup.XXXXXX")

psql_on() { local url=$1; shift; psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --dbname="$url" "$@"; }
cleanup() {
    local status=$?
    object_stores_stop
    for db in "$source_db" "$restore_db" "$blob_db" "$archive_db"; do
        psql_on "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
            || echo "test-backup: could not drop $db" >&2
    done
    rm -rf "$dir"
    exit "$status"
}
trap cleanup EXIT
fail() { echo "test-backup: FAIL: $*" >&2; exit 1; }
die() { fail "$@"; }

for db in "$source_db" "$restore_db" "$blob_db" "$archive_db"; do psql_on "$DATABASE_URL" -c "CREATE DATABASE $db"; done
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
# $2 and $3: the tables and the sequences to compare, as regular expressions (default: all).
fingerprint() {
    psql_on "$1" --tuples-only --no-align --field-separator=' ' \
        --set tables="${2:-.}" --set sequences="${3:-.}" <<'SQL'
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
WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND c.relname ~ :'tables'
ORDER BY c.relname
\gexec
SELECT format('SELECT %L, last_value, is_called FROM %I.%I', 'sequence ' || sequencename, schemaname, sequencename)
FROM pg_sequences WHERE schemaname = 'public' AND sequencename ~ :'sequences' ORDER BY sequencename
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

# --- Azure Blob Storage (Azurite) ------------------------------------------------------------------
object_stores_start "$dir/stores"
container_url=$(azurite_container_url backups 127.0.0.1)
container_sas=${container_url#*\?}
container_url=${container_url%%\?*}
azcopy_dir=$root/.local/azcopy
[[ -x $azcopy_dir/azcopy ]] || fail "azcopy is not in $azcopy_dir: run scripts/test-tools.sh"
# azcopy trusts the emulator's certificate as it trusts Azure's; its logs stay in the run's folder.
export SSL_CERT_FILE=$AZURITE_CERT AZCOPY_LOG_LOCATION=$dir/azcopy AZCOPY_JOB_PLAN_LOCATION=$dir/azcopy/plans
blob_summary=$(PATH=$azcopy_dir:$PATH DATABASE_URL=$source_url BACKUP_DESTINATION="$container_url?$container_sas" \
    BACKUP_PREFIX=postgres BACKUP_NAME=azure BACKUP_WORK_DIR="$dir" bash deploy/backup/backup.sh 2>"$dir/blob.log" | tail -n 1) ||
    { cat "$dir/blob.log" >&2; fail "backup.sh to Azurite failed"; }
[[ $blob_summary =~ ^backup:\ wrote\ (postgres/tocsin-azure-[0-9]{8}T[0-9]{6}Z\.dump)\  ]] ||
    fail "backup.sh to Azurite said: $blob_summary"
blob=${BASH_REMATCH[1]}
# The download of docs/operations.md, "Restore", step 2.
"$azcopy_dir/azcopy" copy "$container_url/$blob?$container_sas" "$dir/from-blob.dump" --from-to=BlobLocal \
    --check-md5=FailIfDifferent --output-level=quiet || fail "azcopy could not download $blob"
pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error \
    --dbname="$blob_url" "$dir/from-blob.dump" || fail "pg_restore of the blob failed"
fingerprint "$blob_url" >"$dir/blob.txt"
if ! diff -u "$dir/source.txt" "$dir/blob.txt" >"$dir/diff.txt"; then
    cat "$dir/diff.txt" >&2
    fail "the database restored from Azurite differs from the source"
fi

# --- archive to S3 (moto) --------------------------------------------------------------------------
# The tables the archive holds (crates/archive); their sequences are moved past the restored ids,
# not to where the source's are, so they are not compared.
archived='^(incidents|alerts|timeline_entries|notification_threads|pages|command_outcomes|notification_deliveries)$'
moto_bucket tocsin-archive
mapfile -t s3_env < <(moto_options 127.0.0.1)
# Incidents were opened on 2026-11-01; outcomes and deliveries today.
days=(--from 2026-11-01 --to "$(date -u +%F)")
env "${s3_env[@]}" DATABASE_URL="$source_url" ARCHIVE_URL=s3://tocsin-archive/tocsin LOG_FORMAT=text RUST_LOG=warn \
    "$core" archive "${days[@]}" || fail "tocsin-incident-core archive to S3 failed"
DATABASE_URL=$archive_url LOG_FORMAT=text RUST_LOG=warn "$core" migrate >/dev/null
env "${s3_env[@]}" DATABASE_URL="$archive_url" ARCHIVE_URL=s3://tocsin-archive/tocsin LOG_FORMAT=text RUST_LOG=warn \
    "$core" restore "${days[@]}" || fail "tocsin-incident-core restore from S3 failed"
objects=$(moto_request "tocsin-archive?list-type=2&prefix=tocsin/" | grep -o '<Key>[^<]*</Key>' | wc -l)
((objects > 0)) || fail "no object in the moto bucket after the archive"
fingerprint "$source_url" "$archived" '^$' >"$dir/archived-source.txt"
fingerprint "$archive_url" "$archived" '^$' >"$dir/archived-restore.txt"
if ! diff -u "$dir/archived-source.txt" "$dir/archived-restore.txt" >"$dir/diff.txt"; then
    cat "$dir/diff.txt" >&2
    fail "the tables restored from the S3 archive differ from the source"
fi
archived_rows=$(awk '{n += $2} END {print n}' "$dir/archived-source.txt")

echo "test-backup: ok: ${summary#backup: }; restored and compared $tables tables ($rows rows, md5 of each) and $(grep -c '^sequence ' "$dir/source.txt") sequences: identical;" \
    "the same through Azurite with azcopy ($blob): identical;" \
    "archived to S3 (moto, $objects objects) and restored: $(wc -l <"$dir/archived-source.txt") tables, $archived_rows rows, identical; $((SECONDS - started)) s"
