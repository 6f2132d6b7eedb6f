#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted bytes, each target for SECONDS (default 10), with
# cargo-fuzz (libFuzzer) and the nightly toolchain:
#
#   scripts/test-fuzz.sh [SECONDS] [TARGET...]
#
#   alertmanager_webhook             POST /alerts bodies: ingest's decoding and validation, then
#                                    what happens to an accepted alert downstream; seeded with
#                                    the captured webhooks in testdata/alertmanager/raw
#   alertmanager_webhook_structured  complete Alertmanager-shaped webhooks built from the input
#                                    (timestamps across the whole range, any offset)
#   slack_action                     POST /slack/actions bodies: the form and JSON parse and the
#                                    commands a click yields; seeded with fuzz/seeds/slack_action
#
# - FUZZ_BUILD=release (the default): optimized, with AddressSanitizer, for long runs (`make
#   test-fuzz`). FUZZ_BUILD=quick: unoptimized and without a sanitizer, which builds in about half
#   the time and runs about five times slower: what `make test` uses for its short run. Both
#   check overflows and debug assertions.
# - cargo-fuzz comes from scripts/test-tools.sh (.local/cargo/bin); the targets are built into
#   target/fuzz (a `cargo clean` removes them too).
# - Each target's corpus grows in fuzz/corpus/TARGET (not in git), so a later run starts where
#   this one stopped; the seeds are read from their own folders and never written to.
# - A crash, a panic or an input slower than 10 s stops the run with exit 1. The input is saved
#   in fuzz/artifacts/TARGET/ (not in git). Replay it (add `--dev --sanitizer none` when a quick
#   build found it):
#     (cd fuzz && cargo +nightly fuzz run --target-dir ../target/fuzz TARGET artifacts/TARGET/crash-…)
#   then fix the parser, and add the input as a unit test in the parser's crate.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
SECONDS_PER_TARGET="${1:-10}"
shift $(($# > 0 ? 1 : 0))
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(alertmanager_webhook alertmanager_webhook_structured slack_action)

log() { printf '[fuzz] %s\n' "$*" >&2; }
die() { printf '[fuzz] ERROR: %s\n' "$*" >&2; exit 1; }

case "${FUZZ_BUILD:-release}" in
    release) BUILD=(--target-dir ../target/fuzz) ;;
    quick) BUILD=(--target-dir ../target/fuzz --dev --sanitizer none) ;;
    *) die "FUZZ_BUILD must be release or quick, not '$FUZZ_BUILD'" ;;
esac
[[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/test-fuzz.sh [SECONDS] [TARGET...] (SECONDS a whole number, not '$SECONDS_PER_TARGET')"
rustup run nightly rustc --version >/dev/null 2>&1 ||
    die "the nightly toolchain is needed to build the fuzz targets (rustup toolchain install nightly)"
bash "$ROOT/scripts/test-tools.sh"
export PATH="$ROOT/.local/cargo/bin:$PATH"

seeds_of() {
    case "$1" in
        alertmanager_webhook) echo "$ROOT/testdata/alertmanager/raw" ;;
        slack_action) echo "$ROOT/fuzz/seeds/slack_action" ;;
        alertmanager_webhook_structured) ;;
        *) die "no fuzz target '$1' (fuzz/Cargo.toml lists them)" ;;
    esac
}

cd "$ROOT/fuzz"
log "building ${TARGETS[*]} (nightly, ${FUZZ_BUILD:-release} build, into target/fuzz)"
for target in "${TARGETS[@]}"; do
    seeds_of "$target" >/dev/null
    cargo +nightly fuzz build "${BUILD[@]}" "$target"
done

for target in "${TARGETS[@]}"; do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    seeds=()
    seed_dir="$(seeds_of "$target")"
    [[ -z "$seed_dir" ]] || seeds=("$seed_dir")
    log "$target: ${SECONDS_PER_TARGET} s"
    # libFuzzer writes new inputs to the first folder only; the seeds stay as they are.
    if ! cargo +nightly fuzz run "${BUILD[@]}" "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 >"$corpus.log" 2>&1; then
        tail -n 60 "$corpus.log" >&2
        die "$target failed: the input is in fuzz/artifacts/$target/ (replay: see this script's header)"
    fi
    grep -E '^Done [0-9]+ runs' "$corpus.log" | sed "s/^/[fuzz] $target: /" >&2
done
log "passed: ${TARGETS[*]}, ${SECONDS_PER_TARGET} s each, no crash"
