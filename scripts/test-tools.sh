#!/usr/bin/env bash
# Makes the tools the Rust tests call out to available, and prints nothing when all is well:
#   aiosmtpd (PyPI) in .local/venv: the real SMTP server services/notifier/tests/channels.rs
#   delivers e-mail to (tests/support/smtp_sink.py).
# The venv is the one scripts/lint-deploy.sh uses for kubernetes-validate; each script only adds
# its own packages to it, so either can run first. Idempotent: a second run changes nothing.
# Run it before `cargo test` (the e-mail tests fail, saying so, without it). The tests use
# TOCSIN_TEST_PYTHON instead when it is set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# Pinned so every run (and CI) tests against the same server; bump deliberately.
AIOSMTPD_VERSION=1.4.6

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
