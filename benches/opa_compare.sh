#!/usr/bin/env bash
# Signalbox's policy engine and Open Policy Agent side by side (docs/performance.md).
#
# Fetches OPA's own Go evaluator from PyPI (the wheel `opa-golib-python-bindings`,
# whose c-shared library `libopabridge.so` embeds OPA's `rego` package) into a
# cache under target/, builds the comparison tool in release, and runs it: the
# shipped policy files unchanged and the same generated inputs go to both
# engines, every decision is checked to be identical, and both are timed.
# Extra arguments go to the tool (e.g. `--cases 5000 --rounds 5`).
# The last line reads:
#   signalbox <µs>/decision, opa <µs>/decision, ratio <x>, identical <n>/<n>
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OPA_WHEEL_VERSION=0.4.4   # embeds OPA v1.20.2
CACHE=${OPA_CACHE:-$ROOT/target/opa/$OPA_WHEEL_VERSION}
LIB=$CACHE/opa_bindings/libopabridge.so

WORK=$(mktemp -d -t signalbox-opa.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if [[ ! -f $LIB ]]; then
  echo "fetching opa-golib-python-bindings $OPA_WHEEL_VERSION from PyPI into $CACHE" >&2
  # The wheel declares Python >= 3.14; pip only downloads it here, nothing is installed.
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.14 --platform manylinux_2_34_x86_64 \
    "opa-golib-python-bindings==$OPA_WHEEL_VERSION" -d "$WORK" >&2
  mkdir -p "$CACHE"
  python3 -m zipfile -e "$WORK"/opa_golib_python_bindings-"$OPA_WHEEL_VERSION"-*.whl "$CACHE"
fi

cargo build --release --quiet -p signalbox-benches --bin opa_compare >&2
# Where cargo put it (CARGO_TARGET_DIR, if set, is relative to here).
"$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/opa_compare" --lib "$LIB" --policies "$ROOT/policies" "$@"
