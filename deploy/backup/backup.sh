#!/usr/bin/env bash
# One backup of tocsin's PostgreSQL database: pg_dump in the custom format, checked, then copied
# to Azure Blob Storage (or a local folder) under a timestamped name. The chart's backup CronJob
# runs it (deploy/helm/tocsin/templates/backup-cronjob.yaml); scripts/test-backup.sh runs it
# against the local PostgreSQL and restores the result. The restore: docs/operations.md.
#
# Environment:
#   DATABASE_URL         postgres://user:password@host:5432/db?sslmode=require (required). A role
#                        that can read every table is enough (docs/operations.md, "Backups").
#   BACKUP_DESTINATION   where the dump goes (required):
#                          https://<account>.blob.core.windows.net/<container>  with azcopy,
#                            signed in through Azure Workload Identity (AZCOPY_AUTO_LOGIN_TYPE,
#                            WORKLOAD unless set); no account key;
#                          the same with a SAS token as its query (...?sv=...&sig=...): azcopy
#                            uses the token and signs in to nothing (a one-off run by hand, or
#                            the Azurite emulator in scripts/test-backup.sh and test-images.sh;
#                            the token is never printed);
#                          file:///some/folder  a local folder (tests, or a mounted volume).
#   BACKUP_PREFIX        folder inside the destination (default: postgres)
#   BACKUP_NAME          the installation's name in the file name (default: tocsin), so the blob is
#                        <prefix>/tocsin-<name>-YYYYMMDDTHHMMSSZ.dump
#   BACKUP_WORK_DIR      where the dump is written before the upload (default: $TMPDIR or /tmp);
#                        needs room for one dump
#
# Exit status: 0 only when the dump is complete, readable by pg_restore and present at the
# destination with the same size; anything else exits non-zero with a message on stderr. The last
# line on stdout says what was written where.
set -euo pipefail

log() { printf 'backup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

: "${DATABASE_URL:?DATABASE_URL is required}"
: "${BACKUP_DESTINATION:?BACKUP_DESTINATION is required (https://<account>.blob.core.windows.net/<container> or file:///folder)}"
prefix=${BACKUP_PREFIX-postgres}
prefix=${prefix#/}
prefix=${prefix%/}
name=${BACKUP_NAME:-tocsin}
work_dir=${BACKUP_WORK_DIR:-${TMPDIR:-/tmp}}
# A SAS token is the URL's query: kept apart, so the object's name goes into the path before it.
destination=${BACKUP_DESTINATION%%\?*}
sas=""
[[ $BACKUP_DESTINATION == *\?* ]] && sas=${BACKUP_DESTINATION#*\?}
destination=${destination%/}

[[ $name =~ ^[-._a-zA-Z0-9]+$ ]] || die "BACKUP_NAME must be letters, digits, '-', '.', '_' (got '$name')"
[[ -z $prefix || $prefix =~ ^[-._a-zA-Z0-9/]+$ ]] || die "BACKUP_PREFIX must be letters, digits, '-', '.', '_', '/' (got '$prefix')"
case $destination in
    https://*/*) mode="blob" ;;
    file:///*) mode="file" ;;
    *) die "BACKUP_DESTINATION must be https://<account>.blob.core.windows.net/<container> or file:///folder (got '$destination')" ;;
esac
[[ -z $sas || $mode == blob ]] || die "a query (SAS token) is only for a blob destination (got '$destination?...')"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
file_name="tocsin-$name-$stamp.dump"
object=${prefix:+$prefix/}$file_name
scratch=$(mktemp -d "$work_dir/tocsin-backup.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
dump=$scratch/$file_name

# --- dump ----------------------------------------------------------------------------------------
# Written to a file rather than piped into the upload: the upload then starts only from a dump
# pg_dump finished without error, and the size can be compared afterwards. pg_dump must be at
# least the server's major version; it refuses a newer server itself, loudly.
started=$SECONDS
log "dumping the database ($(pg_dump --version))"
pg_dump --format=custom --compress=6 --no-password --dbname="$DATABASE_URL" --file="$dump" \
    || die "pg_dump failed"
size=$(stat -c %s "$dump")
((size > 0)) || die "pg_dump wrote an empty file"
# The archive's table of contents: proves the file is a complete custom-format archive.
entries=$(pg_restore --list "$dump" | grep -vc '^;') || die "pg_restore cannot read the dump"
((entries > 0)) || die "the dump has no entries"
log "dump: $size bytes, $entries entries, $((SECONDS - started)) s"

# --- upload and check ----------------------------------------------------------------------------
case $mode in
    file)
        folder=${destination#file://}${prefix:+/$prefix}
        mkdir -p "$folder"
        # Copied under a temporary name and renamed, so a reader never sees a partial dump.
        cp "$dump" "$folder/.$file_name.partial" || die "copy to $folder failed"
        mv "$folder/.$file_name.partial" "$folder/$file_name"
        [[ -f $folder/$file_name ]] || die "$folder/$file_name is missing after the copy"
        got=$(stat -c %s "$folder/$file_name")
        ;;
    blob)
        command -v azcopy >/dev/null || die "azcopy is not installed"
        if [[ -n $sas ]]; then
            # The token authorises every request; a sign-in would be tried first and fail.
            unset AZCOPY_AUTO_LOGIN_TYPE
        else
            export AZCOPY_AUTO_LOGIN_TYPE=${AZCOPY_AUTO_LOGIN_TYPE:-WORKLOAD}
        fi
        # azcopy keeps its logs and job plans under $HOME by default: the root filesystem is
        # read-only in the pod, so both go to the scratch folder (and its logs are shown on failure).
        export AZCOPY_LOG_LOCATION=$scratch/azcopy AZCOPY_JOB_PLAN_LOCATION=$scratch/azcopy/plans
        url=$destination/$object
        log "uploading to $url"
        if ! azcopy copy "$dump" "$url${sas:+?$sas}" --from-to=LocalBlob --put-md5 --check-length=true \
            --overwrite=false --output-level=essential; then
            find "$scratch/azcopy" -name '*.log' -exec tail -n 40 {} + >&2 2>/dev/null || true
            die "upload to $url failed"
        fi
        # Read the blob back from the service: the folder's listing must show the name and the
        # size. The folder, not the blob: a blob's own listing names it by its path relative to
        # itself, which is empty. --location because azcopy infers it from the host name only,
        # and the emulator's is an IP address.
        folder_url=$destination${prefix:+/$prefix}
        listing=$(azcopy list "$folder_url${sas:+?$sas}" --location=Blob --machine-readable --properties=ContentLength) \
            || die "cannot list $folder_url after the upload"
        got=$(printf '%s\n' "$listing" | grep -F "$file_name" | grep -o 'Content Length: *[0-9]*' | grep -o '[0-9]*$' | head -n 1) \
            || die "$url is not in the container after the upload: $listing"
        ;;
esac
[[ $got == "$size" ]] || die "the copy at the destination has $got bytes, the dump $size"
log "done in $((SECONDS - started)) s"
echo "backup: wrote $object ($size bytes) to $destination"
