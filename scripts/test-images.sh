#!/usr/bin/env bash
# The five images (Dockerfile), built on this machine and run with podman:
#   scripts/test-images.sh build   build them only (`make images-here`)
#   scripts/test-images.sh         build them, then test them (`make test-images`, part of `make test`)
#
# Built from the host's build rather than from source (docs/testing.md, "The images"): no image
# registry is reachable here and compiling Rust in a container takes far too long on two cores. So:
#   - the base images are one Debian 12 image made with `debootstrap --variant=minbase bookworm`
#     from the mirror apt uses and `podman import`ed (cached in .local/images/ and in podman's store);
#   - ARTIFACTS=prebuilt takes the four services' binaries from target/$PROFILE (debug unless
#     PROFILE=release; debug sections stripped), the dashboard from services/web/dist and azcopy as
#     scripts/test-tools.sh installs it from the npm registry's @azure-tools/azcopy-linux (the Go
#     module proxy does not serve azcopy here; that binary is azcopy's release build, which needs
#     libsecret-1-0, installed in the image);
#   - the backup image's pg_dump is Debian's own PostgreSQL 15 client (PGDG is out of reach).
# The test, with the project-local PostgreSQL and Redis (scripts/local-infra.sh):
#   1. each service image, started alone with a read-only root filesystem and no writable mount
#      (as the chart runs it), runs as uid 10001 and answers GET /health;
#   2. the four together on one podman network, reaching PostgreSQL and Redis on the host through
#      socat forwarders on the network's gateway (both listen on 127.0.0.1 only): the migration run
#      by the incident-core image, a webhook POSTed to ingest, the incident read back from query;
#   3. the backup image, read-only with an empty /tmp as the chart's CronJob gives it, dumps that
#      database to a folder (BACKUP_DESTINATION=file://), and pg_restore --list reads the dump;
#      then uploads it with its azcopy to Azurite (scripts/lib/object-stores.sh: HTTPS with a
#      certificate the container is told to trust, an account SAS token), and the blob, downloaded
#      on the host, is read by pg_restore --list;
#   4. the incident-core image archives the database's last two days to S3 as moto serves it
#      (`archive`, as the chart's archive CronJob runs it), and the incidents object holds the
#      incident of step 2.
#   Azurite and moto listen on 127.0.0.1 and are reached like PostgreSQL and Redis.
# Image sizes and start-up times are printed at the end (docs/benchmarks.md, "Images").
# Without podman it says so loudly and exits 0: the only case in which it tests nothing.
# Needs root (debootstrap, podman's networks), curl, socat, psql, python3. The last line is
# "N passed, N failed"; the exit status is non-zero if anything failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
ROOT=$root
# shellcheck source=scripts/lib/object-stores.sh
source scripts/lib/object-stores.sh

mode=${1:-all}
case $mode in build | all) ;; *) echo "usage: scripts/test-images.sh [build]" >&2; exit 2 ;; esac

log() { echo "[test-images] $*" >&2; }
die() { log "error: $*"; exit 1; }

if ! command -v podman >/dev/null 2>&1 || ! podman info >/dev/null 2>&1; then
    cat >&2 <<'EOF'
########################################################################################
# test-images: SKIPPED. podman is not available here, so the images were NOT built and  #
# NOT tested. Install podman, runc and debootstrap (as .ci/run does) to run this test.   #
########################################################################################
EOF
    exit 0
fi

profile=${PROFILE:-debug}
images_dir=$root/.local/images
tag=${IMAGE_TAG:-dev}
registry=${IMAGE_REGISTRY:-localhost/tocsin}
base_image=localhost/tocsin-debian:bookworm-minbase
# What debootstrap puts in the base image; kept as its label, so a base made otherwise is remade.
# CA certificates and time zones: what the distroless runtime has besides glibc and libgcc.
base_recipe="bookworm minbase ca-certificates,tzdata"
services=(ingest incident-core query notifier)
mkdir -p "$images_dir"

# --- the base image ------------------------------------------------------------------------------
# The first Debian mirror apt is configured with (deb822 or one-line sources).
debian_mirror() {
    local uri
    uri=$(sed -n 's/^URIs:[[:space:]]*\(\S*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
    [[ -n $uri ]] || uri=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    echo "${uri:-http://deb.debian.org/debian}"
}

ensure_base_image() {
    if podman image exists "$base_image" &&
        [[ $(podman image inspect --format '{{index .Labels "tocsin.base"}}' "$base_image") == "$base_recipe" ]]; then
        return 0
    fi
    local tarball=$images_dir/debian-bookworm-minbase.tar
    local recorded=$images_dir/debian-bookworm-minbase.recipe
    if [[ ! -s $tarball || $(cat "$recorded" 2>/dev/null) != "$base_recipe" ]]; then
        command -v debootstrap >/dev/null 2>&1 || die "debootstrap is needed to make the base image (apt-get install debootstrap)"
        local rootfs mirror
        rootfs=$(mktemp -d "$images_dir/rootfs.XXXXXX")
        mirror=$(debian_mirror)
        log "debootstrap --variant=minbase bookworm from $mirror (once; cached in $tarball)"
        debootstrap --variant=minbase --include=ca-certificates,tzdata bookworm "$rootfs" "$mirror" \
            >"$images_dir/debootstrap.log" 2>&1 || { tail -n 20 "$images_dir/debootstrap.log" >&2; rm -rf "$rootfs"; die "debootstrap failed"; }
        # As in Debian's slim images: no package lists or downloaded packages (apt-get update first).
        rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
        tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
        echo "$base_recipe" >"$recorded"
        rm -rf "$rootfs"
    fi
    log "importing $tarball as $base_image"
    podman import --quiet --change "LABEL tocsin.base=\"$base_recipe\"" "$tarball" "$base_image" >/dev/null
}

# --- the host's build, as the `prebuilt` build context -------------------------------------------
# azcopy as scripts/test-tools.sh installs it: the release binary of the npm package
# @azure-tools/azcopy-linux (the proxy here serves no azcopy module).
ensure_azcopy() {
    local azcopy=$root/.local/azcopy/azcopy
    [[ -x $azcopy ]] || bash scripts/test-tools.sh || die "scripts/test-tools.sh could not install azcopy"
    echo "$azcopy"
}

prepare_prebuilt() {
    local context=$1 azcopy
    [[ -f services/web/dist/index.html ]] || make --no-print-directory web
    [[ -f services/web/dist/index.html ]] || die "no dashboard build in services/web/dist (make web)"
    log "cargo build (${profile}) of the four services"
    local release=()
    [[ $profile == release ]] && release=(--release)
    cargo build --quiet "${release[@]}" -p tocsin-ingest -p tocsin-incident-core -p tocsin-query -p tocsin-notifier
    azcopy=$(ensure_azcopy)
    rm -rf "$context"
    mkdir -p "$context"
    local svc
    for svc in "${services[@]}"; do
        # The debug build's DWARF sections are most of its size and no use in an image.
        objcopy --strip-debug "target/$profile/tocsin-$svc" "$context/tocsin-$svc"
    done
    cp -a services/web/dist "$context/web"
    cp "$azcopy" "$context/azcopy"
}

build_images() {
    ensure_base_image
    local context=$images_dir/prebuilt
    prepare_prebuilt "$context"
    local started_at
    started_at=$(date +%s)
    log "building the five images from the host's build (log: $images_dir/build.log)"
    make --no-print-directory images IMAGE_ENGINE=podman IMAGE_REGISTRY="$registry" IMAGE_TAG="$tag" \
        IMAGE_BUILD_FLAGS="--build-arg ARTIFACTS=prebuilt --build-context prebuilt=$context \
--build-arg RUNTIME_IMAGE=$base_image --build-arg BACKUP_BASE_IMAGE=$base_image \
--build-arg POSTGRES_APT_SOURCE=debian --build-arg POSTGRES_CLIENT_MAJOR=15 \
--build-arg AZCOPY_RUNTIME_PACKAGES=libsecret-1-0" >"$images_dir/build.log" 2>&1 ||
        { grep -v 'level=warning' "$images_dir/build.log" | tail -n 30 >&2; die "building the images failed"; }
    # What earlier builds left untagged (their final images and their stages' layers, each a few
    # hundred MB of old binaries), which would otherwise pile up run after run; rebuilding a stage
    # from them costs seconds. podman's store on the machines that run this holds the project's
    # images only.
    podman images --quiet --filter dangling=true --filter "until=$started_at" |
        xargs -r podman rmi >/dev/null 2>&1 || true
}

image_of() { echo "$registry/tocsin-$1:$tag"; }

if [[ $mode == build ]]; then
    build_images
    exit 0
fi

# --- the test ------------------------------------------------------------------------------------
for tool in curl socat psql python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is needed"
done

run_id="images$$"
network=tocsin-$run_id
containers=()
forwarders=()
admin_url=""
db_name=""
work=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-test-images.XXXXXX")
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

cleanup() {
    local status=$? name pid
    trap - EXIT INT TERM
    for name in "${containers[@]}"; do
        podman container exists "$name" || continue
        if ((status != 0 || failed != 0)); then
            log "last lines of $name:"
            podman logs --tail 20 "$name" 2>&1 | sed 's/^/    /' >&2 || true
        fi
        podman rm --force --time 5 "$name" >/dev/null 2>&1 || true
    done
    podman network exists "$network" 2>/dev/null && podman network rm --force "$network" >/dev/null 2>&1
    # Each forwarder's children too: one per connection, which outlives the container when its
    # network namespace goes without closing the connection.
    for pid in "${forwarders[@]}"; do
        pkill -TERM --parent "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    if [[ -n $db_name ]]; then
        psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $db_name"
    fi
    if [[ -n ${REDIS_URL:-} ]] && command -v redis-cli >/dev/null 2>&1; then
        redis-cli -u "$REDIS_URL" --scan --pattern "tocsin-$run_id*" 2>/dev/null |
            xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
    fi
    object_stores_stop
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_started=$SECONDS
build_images
build_seconds=$((SECONDS - build_started))

eval "$(bash scripts/local-infra.sh up)"
: "${DATABASE_URL:?local-infra.sh printed no DATABASE_URL}"
admin_url=$DATABASE_URL
db_name=tocsin_$run_id
psql -q "$admin_url" -c "CREATE DATABASE $db_name" >/dev/null || die "could not create database $db_name"

podman network create "$network" >/dev/null
gateway=$(podman network inspect --format '{{range .Subnets}}{{.Gateway}}{{end}}' "$network")
[[ -n $gateway ]] || die "podman network $network has no gateway"
# PostgreSQL and Redis listen on 127.0.0.1 only (their authentication trusts that): the containers
# reach them through forwarders on the network's gateway, which is this host. The bridge and its
# address appear only with the network's first container, hence ip-freebind.
forward() {
    local port=$1
    socat "TCP-LISTEN:$port,bind=$gateway,ip-freebind,fork,reuseaddr" "TCP:127.0.0.1:$port" &
    forwarders+=("$!")
}
pg_port=${admin_url##*:}
pg_port=${pg_port%%/*}
redis_port=${REDIS_URL##*:}
redis_port=${redis_port%%/*}
forward "$pg_port"
forward "$redis_port"
object_stores_start "$work/stores" "$gateway"
forward "$AZURITE_PORT"
forward "$MOTO_PORT"
container_db_url="postgres://tocsin:tocsin@$gateway:$pg_port/$db_name"
container_redis_url="redis://$gateway:$redis_port/"
ingest_token="ingest-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
api_token="api-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
service_env=(
    --env "DATABASE_URL=$container_db_url" --env "REDIS_URL=$container_redis_url"
    --env "STREAM_PREFIX=tocsin-$run_id" --env "INGEST_TOKEN=$ingest_token" --env "API_TOKEN=$api_token"
    --env RUST_LOG=info
)

milliseconds() { date +%s%3N; }

# Waits up to 60 s for GET http://127.0.0.1:$1/health to answer 200.
wait_healthy() {
    local port=$1 deadline=$((SECONDS + 60))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/health" || true) == 200 ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# The host port podman published for the container's 8080.
published_port() { podman port "$1" 8080/tcp | sed -n '1s/.*://p'; }

# Checks that container $1 runs as uid 10001 with a read-only root filesystem.
check_confinement() {
    local name=$1 pid uid read_only
    pid=$(podman inspect --format '{{.State.Pid}}' "$name")
    if [[ $pid == 0 ]]; then
        fail "$name: not running"
        return
    fi
    uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
    read_only=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$name")
    if [[ $uid == 10001 && $read_only == true ]]; then
        ok "$name: runs as uid 10001 with a read-only root filesystem"
    else
        fail "$name: runs as uid $uid, read-only root filesystem: $read_only"
    fi
}

# As the chart runs them: read-only root filesystem and no writable mount at all.
start_service() {
    local svc=$1 name=$2
    shift 2
    podman run --detach --name "$name" --network "$network" --network-alias "$svc" \
        --read-only --read-only-tmpfs=false --publish 127.0.0.1::8080 \
        "${service_env[@]}" "$@" "$(image_of "$svc")" >/dev/null
    containers+=("$name")
}

log "migrating $db_name with the incident-core image"
if podman run --rm --network "$network" --read-only --read-only-tmpfs=false \
    --env "DATABASE_URL=$container_db_url" "$(image_of incident-core)" migrate >"$work/migrate.log" 2>&1; then
    ok "incident-core image: migrate"
else
    sed 's/^/    /' "$work/migrate.log"
    fail "incident-core image: migrate"
fi

# 1. Each service alone: its start-up time is from `podman run` to the first 200 from /health.
declare -A startup_ms
for svc in "${services[@]}"; do
    name=$network-$svc-alone
    started=$(milliseconds)
    start_service "$svc" "$name"
    port=$(published_port "$name")
    if wait_healthy "$port"; then
        startup_ms[$svc]=$(($(milliseconds) - started))
        ok "$svc image: answers /health (${startup_ms[$svc]} ms after podman run)"
    else
        fail "$svc image: no 200 from /health within 60 s"
    fi
    check_confinement "$name"
    podman rm --force --time 5 "$name" >/dev/null
done

# 2. The four together: a webhook becomes an incident.
for svc in "${services[@]}"; do start_service "$svc" "$network-$svc"; done
for svc in "${services[@]}"; do
    wait_healthy "$(published_port "$network-$svc")" || fail "$svc: no 200 from /health on the shared network"
done
ingest_port=$(published_port "$network-ingest")
query_port=$(published_port "$network-query")
fixture=testdata/alertmanager/raw/firing-single.json
if curl -sS --fail-with-body --max-time 10 -o "$work/ingest.out" -H "Authorization: Bearer $ingest_token" \
    -H 'Content-Type: application/json' --data-binary "@$fixture" "http://127.0.0.1:$ingest_port/alerts"; then
    ok "ingest container accepted the webhook ($fixture)"
else
    fail "ingest container refused the webhook: $(cat "$work/ingest.out")"
fi
incidents=0
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
    incidents=$(curl -sS --max-time 5 -H "Authorization: Bearer $api_token" "http://127.0.0.1:$query_port/incidents" |
        python3 -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))' 2>/dev/null || echo 0)
    ((incidents > 0)) && break
    sleep 0.5
done
if ((incidents > 0)); then
    ok "the webhook became an incident, read through the query container's API"
else
    fail "no incident in the query container's GET /incidents 30 s after the webhook"
fi
index=$(curl -sS --max-time 5 "http://127.0.0.1:$query_port/" || true)
if [[ $index == *'<div id="root">'* ]]; then
    ok "query container serves the dashboard from /app/web"
else
    fail "query container does not serve the dashboard's index.html"
fi

# 3. The backup image: a dump of the same database to a folder, read back by pg_restore on the host.
mkdir -p "$work/backups"
chown 10001:10001 "$work/backups"
name=$network-backup
containers+=("$name")
if podman run --name "$name" --network "$network" --read-only --read-only-tmpfs=false --tmpfs /tmp \
    --volume "$work/backups:/backups" --env "DATABASE_URL=$container_db_url" \
    --env BACKUP_DESTINATION=file:///backups "$(image_of backup)" >"$work/backup.log" 2>&1; then
    dump=$(find "$work/backups" -type f -name '*.dump' | head -n 1)
    # The listing to a file first: grep -q closing the pipe early would fail pg_restore (pipefail).
    if [[ -n $dump ]] && pg_restore --list "$dump" >"$work/dump.list" && grep -q 'TABLE DATA public incidents ' "$work/dump.list"; then
        ok "backup image: pg_dump of the database to a folder, readable by pg_restore"
    else
        fail "backup image: no readable dump with the incidents table in $work/backups"
    fi
    confinement=$(podman inspect --format '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}' "$name")
    if [[ $confinement == "10001:10001 true" ]]; then
        ok "backup image: ran as 10001:10001 with a read-only root filesystem"
    else
        fail "backup image: user and read-only root filesystem were: $confinement"
    fi
else
    sed 's/^/    /' "$work/backup.log"
    fail "backup image: the backup job failed"
fi

# The same job to Blob Storage: Azurite over HTTPS, its certificate mounted and named by
# SSL_CERT_FILE, a SAS token in the URL (Workload Identity needs Azure).
container_url=$(azurite_container_url backups "$gateway")
container_sas=${container_url#*\?}
name=$network-backup-blob
containers+=("$name")
if podman run --name "$name" --network "$network" --read-only --read-only-tmpfs=false --tmpfs /tmp \
    --volume "$AZURITE_CERT:/etc/tocsin/azurite.pem:ro" --env SSL_CERT_FILE=/etc/tocsin/azurite.pem \
    --env "DATABASE_URL=$container_db_url" --env "BACKUP_DESTINATION=$container_url" \
    "$(image_of backup)" >"$work/backup-blob.log" 2>&1; then
    blob=$(sed -n 's/^backup: wrote \(\S*\) .*/\1/p' "$work/backup-blob.log")
    if [[ -n $blob ]] && SSL_CERT_FILE=$AZURITE_CERT AZCOPY_LOG_LOCATION=$work/azcopy AZCOPY_JOB_PLAN_LOCATION=$work/azcopy \
        "$root/.local/azcopy/azcopy" copy "https://127.0.0.1:$AZURITE_PORT/$AZURITE_ACCOUNT/backups/$blob?$container_sas" \
        "$work/blob.dump" --from-to=BlobLocal --check-md5=FailIfDifferent --output-level=quiet >/dev/null &&
        pg_restore --list "$work/blob.dump" >"$work/blob.list" && grep -q 'TABLE DATA public incidents ' "$work/blob.list"; then
        ok "backup image: uploaded the dump to Azure Blob Storage (Azurite) with azcopy $(podman run --rm --entrypoint azcopy "$(image_of backup)" --version | grep -o '[0-9.]*$'), readable by pg_restore once downloaded"
    else
        sed 's/^/    /' "$work/backup-blob.log"
        fail "backup image: no readable dump in the Azurite container (blob '$blob')"
    fi
else
    sed 's/^/    /' "$work/backup-blob.log"
    fail "backup image: the backup job to Azurite failed"
fi

# 4. The incident-core image's archive job to S3 (moto): the last two days, as the chart's CronJob
# runs `archive --last N`, but ending today, the day of step 2's incident.
moto_bucket tocsin-archive
mapfile -t s3_env < <(moto_options "$gateway")
today=$(date -u +%F)
name=$network-archive
containers+=("$name")
if podman run --name "$name" --network "$network" --read-only --read-only-tmpfs=false \
    --env "DATABASE_URL=$container_db_url" --env ARCHIVE_URL=s3://tocsin-archive/images "${s3_env[@]/#/--env=}" \
    "$(image_of incident-core)" archive --from "$(date -u -d yesterday +%F)" --to "$today" >"$work/archive.log" 2>&1; then
    object=images/incidents/${today//-//}/incidents-$today.jsonl.gz
    # Decompressed to a file first: grep -q closing the pipe early would fail gzip (pipefail).
    if moto_request "tocsin-archive/$object" -o "$work/incidents.jsonl.gz" &&
        gzip -dc "$work/incidents.jsonl.gz" >"$work/incidents.jsonl" && grep -q '"alert_count"' "$work/incidents.jsonl"; then
        ok "incident-core image: archive wrote the day's incidents to S3 (moto) at s3://tocsin-archive/$object"
    else
        sed 's/^/    /' "$work/archive.log"
        fail "incident-core image: no incidents object at s3://tocsin-archive/$object"
    fi
else
    sed 's/^/    /' "$work/archive.log"
    fail "incident-core image: the archive job to S3 failed"
fi

# --- figures for docs/benchmarks.md --------------------------------------------------------------
echo
echo "images built from the host's $profile build in ${build_seconds} s (base image and build cached after the first run)"
printf '%-24s %10s %12s\n' image size "start-up"
for svc in "${services[@]}" backup; do
    size=$(podman image inspect --format '{{.Size}}' "$(image_of "$svc")")
    printf '%-24s %7s MB %9s ms\n' "tocsin-$svc" "$((size / 1000000))" "${startup_ms[$svc]:--}"
done
echo "$passed passed, $failed failed"
((failed == 0))
