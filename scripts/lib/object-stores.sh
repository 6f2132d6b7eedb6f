# shellcheck shell=bash
# Local stand-ins of the object stores backups and archives go to, for scripts/test-backup.sh and
# scripts/test-images.sh. Sourced, not run. Both servers are installed by scripts/test-tools.sh:
#   Azurite (npm, .local/azurite), Microsoft's Azure Blob Storage emulator, served over HTTPS with
#     a certificate made for the run, because the backup job's BACKUP_DESTINATION is https:// only
#     and azcopy then checks the certificate like Azure's (SSL_CERT_FILE names the file);
#   moto (PyPI, moto[server] in .local/venv, Apache-2.0), an S3-compatible server, over HTTP
#     (object_store's AWS_ALLOW_HTTP), as archives reach an S3 endpoint other than AWS's.
# Each listens on 127.0.0.1 on a port it picks itself, with its data in a folder of the run's.
#
# The sourcing script sets ROOT (the repository) and defines `die`, then calls:
#   object_stores_start DIR [IP]...
#       starts both with their data, logs and the certificate under DIR (removed by the caller),
#       the certificate valid for 127.0.0.1 and each IP (e.g. a container network's gateway that
#       forwards to them); sets AZURITE_PORT, AZURITE_CERT, MOTO_PORT
#   azurite_container_url NAME HOST
#       creates the container NAME and prints its URL on HOST (an IP the certificate names) with
#       an account SAS token valid for an hour, the form BACKUP_DESTINATION takes
#   moto_bucket NAME
#       creates the bucket NAME
#   moto_options HOST
#       prints the AWS_* variables (one NAME=value a line) with which object_store reaches moto
#       on HOST
#   moto_request PATH [CURL ARGUMENT]...
#       a request to moto on 127.0.0.1 for PATH (bucket/key, and a query), signed with the same
#       keys (moto refuses unsigned reads of objects); the body on stdout
# Both servers are stopped when the sourcing shell exits: call object_stores_stop from its EXIT
# trap (it replaces none).

OBJECT_STORE_PIDS=()
AZURITE_PORT=""
AZURITE_CERT=""
MOTO_PORT=""
OBJECT_STORE_PORT=""
# Any key will do for moto; object_store and curl sign with this one.
MOTO_KEY=tocsin-test

# Azurite's built-in account and its well-known key (published in Azurite's documentation).
AZURITE_ACCOUNT=devstoreaccount1
AZURITE_KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==

# Starts "$@" in the background with its output in $log and waits up to 60 s for the line saying
# where it listens; sets OBJECT_STORE_PORT to the port (the last number on the line matching
# $pattern). Not in a command substitution: the server's pid must reach OBJECT_STORE_PIDS.
object_store_spawn() {
    local log=$1 pattern=$2 port="" deadline=$((SECONDS + 60))
    shift 2
    "$@" >"$log" 2>&1 &
    OBJECT_STORE_PIDS+=("$!")
    while [[ -z $port ]]; do
        port=$(grep -o -m 1 "$pattern" "$log" 2>/dev/null | grep -o '[0-9]*$' || true)
        [[ -n $port ]] && break
        if ((SECONDS >= deadline)) || ! kill -0 "${OBJECT_STORE_PIDS[-1]}" 2>/dev/null; then
            tail -n 20 "$log" >&2
            die "$(basename "$log" .log) did not start (log: $log)"
        fi
        sleep 0.2
    done
    OBJECT_STORE_PORT=$port
}

object_stores_start() {
    local dir=$1 ip san=IP:127.0.0.1
    shift
    for ip in "$@"; do san+=",IP:$ip"; done
    local azurite=$ROOT/.local/azurite/node_modules/.bin/azurite-blob moto=$ROOT/.local/venv/bin/moto_server
    [[ -x $azurite && -x $moto ]] || die "Azurite or moto is missing: run scripts/test-tools.sh"
    mkdir -p "$dir/azurite" "$dir/moto"
    AZURITE_CERT=$dir/azurite.pem
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=azurite -addext "subjectAltName=$san" \
        -keyout "$dir/azurite.key" -out "$AZURITE_CERT" 2>"$dir/openssl.log" || die "openssl: $(cat "$dir/openssl.log")"
    # Readable by the containers' user (10001), which is given the certificate to trust.
    chmod 644 "$AZURITE_CERT"
    object_store_spawn "$dir/azurite.log" 'listens on https://127.0.0.1:[0-9]*' \
        "$azurite" --blobHost 127.0.0.1 --blobPort 0 --location "$dir/azurite" --skipApiVersionCheck --loose \
        --disableTelemetry --cert "$AZURITE_CERT" --key "$dir/azurite.key"
    AZURITE_PORT=$OBJECT_STORE_PORT
    # The server runs in the moto folder: nothing it might write lands in the repository.
    object_store_spawn "$dir/moto.log" 'Running on http://127.0.0.1:[0-9]*' \
        env --chdir="$dir/moto" "$moto" --host 127.0.0.1 --port 0
    MOTO_PORT=$OBJECT_STORE_PORT
}

# TERM, then KILL for what is still there 5 s later: Azurite can outlive a TERM that arrives
# while it is still starting.
object_stores_stop() {
    local pid deadline=$((SECONDS + 5))
    for pid in "${OBJECT_STORE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${OBJECT_STORE_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    OBJECT_STORE_PIDS=()
}

# An account SAS (sv 2021-08-06) for blobs: read, write, delete, list, add, create on the service,
# containers and objects, HTTPS only, for an hour, signed with the account key.
azurite_sas() {
    local sp=rwdlac ss=b srt=sco spr=https sv=2021-08-06 se string hex signature
    se=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
    # account, permissions, services, resource types, start, expiry, IP, protocol, version,
    # encryption scope, each followed by a newline; start, IP and scope empty.
    string=$(printf '%s\n' "$AZURITE_ACCOUNT" "$sp" "$ss" "$srt" "" "$se" "" "$spr" "$sv")$'\n\n'
    hex=$(printf '%s' "$AZURITE_KEY" | base64 -d | od -An -tx1 | tr -d ' \n')
    signature=$(printf '%s' "$string" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hex" -binary | base64 -w0)
    signature=${signature//+/%2B}
    signature=${signature//\//%2F}
    signature=${signature//=/%3D}
    echo "sv=$sv&ss=$ss&srt=$srt&sp=$sp&se=$se&spr=$spr&sig=$signature"
}

azurite_container_url() {
    local name=$1 host=$2 sas status
    sas=$(azurite_sas)
    status=$(curl -sS --cacert "$AZURITE_CERT" -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Length: 0' \
        "https://127.0.0.1:$AZURITE_PORT/$AZURITE_ACCOUNT/$name?restype=container&$sas") || status=000
    [[ $status == 201 ]] || die "creating the Azurite container $name: HTTP $status"
    echo "https://$host:$AZURITE_PORT/$AZURITE_ACCOUNT/$name?$sas"
}

moto_bucket() {
    local status
    status=$(moto_request "$1" -o /dev/null -w '%{http_code}' -X PUT) || status=000
    [[ $status == 200 ]] || die "creating the moto bucket $1: HTTP $status"
}

moto_options() {
    printf '%s\n' "AWS_ENDPOINT=http://$1:$MOTO_PORT" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
        "AWS_ACCESS_KEY_ID=$MOTO_KEY" "AWS_SECRET_ACCESS_KEY=$MOTO_KEY"
}

moto_request() {
    local path=$1
    shift
    curl -sS --fail --max-time 10 --aws-sigv4 aws:amz:us-east-1:s3 --user "$MOTO_KEY:$MOTO_KEY" "$@" \
        "http://127.0.0.1:$MOTO_PORT/$path"
}
