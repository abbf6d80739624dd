#!/usr/bin/env bash
# Fault loops (docs/reliability.md): `kill -9` cycles under load, and a full
# disk under load. Builds in release, runs the real server on 127.0.0.1.
#
#   bash benches/faults.sh kill9 [CYCLES]     # default 20 cycles, 8 clients
#   bash benches/faults.sh disk-full          # needs root: mounts a small tmpfs
#   bash benches/faults.sh pg-restart         # needs root: stops and starts the machine's PostgreSQL
#
# The last line of each reads:
#   kill9: <N> cycles, <A> acknowledged, 0 lost, <D> in doubt (...), restart to ready mean <ms> ms, max <ms> ms
#   disk-full: <A> acknowledged before the disk filled, <R> refused with 503, 0 lost; ready again <ms> ms after space returned, without a restart
#   pg-restart: 2 replicas, <A> acknowledged (...), <R> refused with 503, <D> in doubt, 0 lost; both ready again <ms> ms after PostgreSQL returned, without a restart
#
# PROFILE=debug uses debug builds (quicker to build; what CI runs as a smoke test).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
if [[ $PROFILE == release ]]; then
  cargo build --release --quiet -p signalbox-server -p signalbox-benches --bins >&2
else
  cargo build --quiet -p signalbox-server -p signalbox-benches --bins >&2
fi
BIN=$(realpath -m "${CARGO_TARGET_DIR:-target}")/$PROFILE

case "${1:-}" in
  kill9)
    "$BIN/faults" kill9 --signalbox "$BIN/signalbox" --cycles "${2:-20}" --clients "${CLIENTS:-8}"
    ;;
  disk-full)
    if [[ $(id -u) != 0 ]]; then
      echo "disk-full needs root to mount a small tmpfs" >&2
      exit 2
    fi
    MNT=$(mktemp -d -t signalbox-full.XXXXXX)
    trap 'umount "$MNT" 2>/dev/null || true; rmdir "$MNT" 2>/dev/null || true' EXIT
    mount -t tmpfs -o size=3m tmpfs "$MNT"
    "$BIN/faults" disk-full --signalbox "$BIN/signalbox" --dir "$MNT" --grow "mount -o remount,size=64m $MNT"
    ;;
  pg-restart)
    if [[ $(id -u) != 0 ]]; then
      echo "pg-restart needs root to stop and start PostgreSQL" >&2
      exit 2
    fi
    URL=$(bash .ci/pg.sh)
    read -r version cluster _ < <(pg_lsclusters -h | head -1)
    PGOPTIONS='--client-min-messages=warning' psql "$URL" -qc "DROP DATABASE IF EXISTS sbx_faults WITH (FORCE)" -c "CREATE DATABASE sbx_faults"
    # Whatever happens, PostgreSQL is left running.
    trap 'pg_ctlcluster "$version" "$cluster" start 2>/dev/null || true' EXIT
    "$BIN/faults" pg-restart --signalbox "$BIN/signalbox" --database "${URL%/*}/sbx_faults" \
      --stop "pg_ctlcluster $version $cluster stop -m fast" --start "pg_ctlcluster $version $cluster start"
    ;;
  *)
    echo "usage: bash benches/faults.sh kill9 [CYCLES] | disk-full | pg-restart" >&2
    exit 2
    ;;
esac
