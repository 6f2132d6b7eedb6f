#!/usr/bin/env bash
# Makes the tools the Rust tests call out to available, and prints nothing when all is well:
#   aiosmtpd (PyPI) in .local/venv: the real SMTP server services/notifier/tests/channels.rs
#   delivers e-mail to (tests/support/smtp_sink.py);
#   azurite (npm) in .local/azurite: the Azure Blob Storage emulator the archive tests use;
#   oidc-provider (npm, `npm ci` in scripts/oidc-provider): the OpenID Connect provider the
#   sign-in tests (services/query/tests/sign_in.rs) sign in at;
#   schemathesis and locust (PyPI) in .local/venv, for scripts/test-api-schema.sh;
#   cargo-fuzz (crates.io) in .local/cargo/bin, for scripts/test-fuzz.sh;
#   moto[server] (PyPI, Apache-2.0) in .local/venv: the S3-compatible server archives are written
#   to in scripts/test-backup.sh, scripts/test-images.sh and crates/archive/tests/;
#   azcopy (npm, @azure-tools/azcopy-linux: azcopy's release binary) in .local/azcopy, with which
#   scripts/test-backup.sh uploads a backup to Azurite and downloads it again, and which
#   scripts/test-images.sh puts in the backup image (needs libsecret-1-0, as .ci/run installs).
# The venv is the one scripts/lint-deploy.sh uses for kubernetes-validate; each script only adds
# its own packages to it, so either can run first. Idempotent: a second run changes nothing.
# Run it before `cargo test` (the e-mail and archive tests fail, saying so, without it). The
# tests use TOCSIN_TEST_PYTHON and TOCSIN_TEST_AZURITE_BLOB instead when they are set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# Pinned so every run (and CI) tests against the same server; bump deliberately.
AIOSMTPD_VERSION=1.4.6
AZURITE_VERSION=3.37.0
SCHEMATHESIS_VERSION=4.32.5
LOCUST_VERSION=2.47.0
CARGO_FUZZ_VERSION=0.13.2
MOTO_VERSION=5.2.5
# The release image builds azcopy 10.27.1 from its Go module, which the Go proxy does not serve here.
AZCOPY_VERSION=10.32.2

venv=$root/.local/venv
log=$root/.local/test-tools.log

have_aiosmtpd() {
    [[ -x $venv/bin/python ]] && "$venv/bin/python" - "$AIOSMTPD_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("aiosmtpd") == sys.argv[1] else 1)
PY
}

if ! have_aiosmtpd; then
    mkdir -p "$root/.local"
    # pip's chatter goes to the log, which is shown only when something fails.
    if ! {
        { [[ -x $venv/bin/python ]] || python3 -m venv "$venv"; } &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
    } >"$log" 2>&1; then
        cat "$log" >&2
        echo "test-tools: could not install aiosmtpd $AIOSMTPD_VERSION into .local/venv" \
            "(python3 with the venv module and access to PyPI are needed)" >&2
        exit 1
    fi
fi

# azurite (npm) in .local/azurite: the Azure Blob Storage emulator the archive tests
# (crates/archive/tests/) write archives to and restore them from. The tests use
# TOCSIN_TEST_AZURITE_BLOB instead when it is set.
azurite=$root/.local/azurite

have_azurite() {
    [[ -x $azurite/node_modules/.bin/azurite-blob ]] &&
        [[ $(node -p 'require(process.argv[1]).version' "$azurite/node_modules/azurite/package.json" 2>/dev/null) == "$AZURITE_VERSION" ]]
}

if ! have_azurite; then
    mkdir -p "$azurite"
    if ! npm install --prefix "$azurite" --no-audit --no-fund --no-save --loglevel=error "azurite@$AZURITE_VERSION" >"$log" 2>&1; then
        cat "$log" >&2
        echo "test-tools: could not install azurite $AZURITE_VERSION into .local/azurite" \
            "(node, npm and access to the npm registry are needed)" >&2
        exit 1
    fi
fi

# The OpenID Connect provider of scripts/oidc-provider, as its package-lock.json pins it; npm ci
# again whenever the lock changed since the last install (a copy of the lock it installed is kept
# in node_modules).
oidc_provider=$root/scripts/oidc-provider
if ! cmp -s "$oidc_provider/package-lock.json" "$oidc_provider/node_modules/.tocsin-installed-lock.json"; then
    if ! (cd "$oidc_provider" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
        cat "$log" >&2
        echo "test-tools: could not install oidc-provider into scripts/oidc-provider/node_modules" \
            "(node 20.19 or newer, npm and access to the npm registry are needed)" >&2
        exit 1
    fi
    cp "$oidc_provider/package-lock.json" "$oidc_provider/node_modules/.tocsin-installed-lock.json"
fi

# schemathesis and locust in the same venv: the API schema tests and the locustfile's smoke run
# (scripts/test-api-schema.sh).
have_api_test_tools() {
    [[ -x $venv/bin/python ]] && "$venv/bin/python" - "$SCHEMATHESIS_VERSION" "$LOCUST_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("schemathesis"), version("locust")) == tuple(sys.argv[1:]) else 1)
PY
}

if ! have_api_test_tools; then
    if ! {
        { [[ -x $venv/bin/python ]] || python3 -m venv "$venv"; } &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                "schemathesis==$SCHEMATHESIS_VERSION" "locust==$LOCUST_VERSION"
    } >"$log" 2>&1; then
        cat "$log" >&2
        echo "test-tools: could not install schemathesis $SCHEMATHESIS_VERSION and locust $LOCUST_VERSION" \
            "into .local/venv (python3 with the venv module and access to PyPI are needed)" >&2
        exit 1
    fi
fi

# cargo-fuzz, built from crates.io with the stable toolchain; the fuzz targets themselves are
# built with nightly (scripts/test-fuzz.sh).
cargo_fuzz=$root/.local/cargo/bin/cargo-fuzz
if [[ $("$cargo_fuzz" --version 2>/dev/null) != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    if ! cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" --root "$root/.local/cargo" cargo-fuzz >"$log" 2>&1; then
        cat "$log" >&2
        echo "test-tools: could not install cargo-fuzz $CARGO_FUZZ_VERSION into .local/cargo" \
            "(cargo and access to crates.io are needed)" >&2
        exit 1
    fi
fi

# moto's S3 server (scripts/lib/object-stores.sh, crates/archive/tests/support/moto.rs).
have_moto() {
    [[ -x $venv/bin/moto_server ]] && "$venv/bin/python" - "$MOTO_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("moto") == sys.argv[1] else 1)
PY
}

if ! have_moto; then
    if ! {
        { [[ -x $venv/bin/python ]] || python3 -m venv "$venv"; } &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    } >"$log" 2>&1; then
        cat "$log" >&2
        echo "test-tools: could not install moto[server] $MOTO_VERSION into .local/venv" \
            "(python3 with the venv module and access to PyPI are needed)" >&2
        exit 1
    fi
fi

# azcopy's release binary from the npm package that ships it; the version it was taken from is
# kept beside it, so a bump replaces it.
azcopy_dir=$root/.local/azcopy
if [[ ! -x $azcopy_dir/azcopy || $(cat "$azcopy_dir/version" 2>/dev/null) != "$AZCOPY_VERSION" ]]; then
    mkdir -p "$azcopy_dir"
    work=$(mktemp -d "$azcopy_dir/npm.XXXXXX")
    if ! (cd "$work" && npm pack --silent "@azure-tools/azcopy-linux@$AZCOPY_VERSION" && tar -xzf ./*.tgz) >"$log" 2>&1; then
        cat "$log" >&2
        rm -rf "$work"
        echo "test-tools: could not fetch @azure-tools/azcopy-linux $AZCOPY_VERSION (npm and access to the npm registry are needed)" >&2
        exit 1
    fi
    install -m 755 "$work/package/dist/bin/azcopy_linux_amd64" "$azcopy_dir/azcopy"
    echo "$AZCOPY_VERSION" >"$azcopy_dir/version"
    rm -rf "$work"
fi
