#!/usr/bin/env bash
# Runs the tests that start the real `signalbox` binary (the e2e, slack and cli
# test targets of signalbox-server) with the clock moved to other instants, under
# libfaketime: they must pass on any date, not just on the day they were written.
#
#   crates/signalbox-server/tests/any-date.sh [INSTANT...]
#
# INSTANT is RFC 3339 in UTC (2027-03-14T08:30:00Z). Without arguments it runs at
# the instants below, chosen because fixed dates in tests break there.
# Honours CARGO_TARGET_DIR. Exits non-zero if a run fails at any instant.
set -euo pipefail
cd "$(dirname "$0")/../../.."

DEFAULT_INSTANTS=(
  # Inside the 2026 year-end freeze (2026-12-18 to 2027-01-04): Monday 10:00 in Chicago, business hours.
  2026-12-28T16:00:00Z
  # US spring-forward day: 02:00 CST became 03:00 CDT at 08:00Z; this is 03:30 CDT on a Sunday.
  2027-03-14T08:30:00Z
  # US fall-back day: 02:00 CDT became 01:00 CST at 07:00Z; this is the second 01:30, on a Sunday.
  2027-11-07T07:30:00Z
  # Saturday 22:00 CST in Chicago (Sunday 05:00 in Berlin): no business hours anywhere for a day and a half.
  2027-01-10T04:00:00Z
)
if [ "$#" -gt 0 ]; then
  INSTANTS=("$@")
else
  INSTANTS=("${DEFAULT_INSTANTS[@]}")
fi

if ! command -v faketime >/dev/null 2>&1; then
  echo "any-date: installing faketime" >&2
  apt-get update
  apt-get install -y faketime
fi

# Build first, on the real clock: cargo is not run under faketime.
echo "any-date: building the e2e, slack and cli tests"
build_json=$(cargo test -p signalbox-server --test e2e --test slack --test cli --no-run --message-format=json-render-diagnostics)
# The test executables: the artifacts whose target kind is "test" (not the signalbox binary).
mapfile -t EXECUTABLES < <(
  printf '%s\n' "$build_json" | grep '"kind":\["test"\]' | grep -o '"executable":"[^"]*"' | cut -d'"' -f4
)
if [ "${#EXECUTABLES[@]}" -ne 3 ]; then
  echo "any-date: expected 3 test executables, found ${#EXECUTABLES[@]}: ${EXECUTABLES[*]:-}" >&2
  exit 1
fi

failed=()
for instant in "${INSTANTS[@]}"; do
  target=$(date -u -d "$instant" +%s)
  offset=$((target - $(date -u +%s)))
  # A relative offset: the faked clock keeps running (an absolute one would stand still).
  # Tokio's timers use the monotonic clock, which stays real.
  fake=(env FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "$(printf '%+ds' "$offset")")
  echo
  echo "=== any-date: at $instant (clock moved by ${offset}s; faked now: $("${fake[@]}" date -u +%Y-%m-%dT%H:%M:%SZ)) ==="
  for exe in "${EXECUTABLES[@]}"; do
    name=$(basename "$exe")
    echo "--- ${name%-*} at $instant"
    # The whole test binary runs faked: the servers it starts inherit the faked
    # clock, so the tests and the servers agree on what "now" is.
    # Run from the package's folder, as cargo test does.
    if ! (cd crates/signalbox-server && "${fake[@]}" "$exe"); then
      failed+=("${name%-*} at $instant")
    fi
  done
done

echo
if [ "${#failed[@]}" -gt 0 ]; then
  echo "any-date: FAILED:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "any-date: all passed at ${INSTANTS[*]}"
