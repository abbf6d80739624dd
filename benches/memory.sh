#!/usr/bin/env bash
# Resident memory with many stored trains, and start-up time (docs/performance.md).
#
# Builds in release, prepares a temporary data directory with the realistic
# configuration and TRAINS stored trains (default 100,000, each with its decision
# and audit records), then starts `signalbox serve` on 127.0.0.1 twice: each time
# it measures launch to the first 200 from /readyz, and VmRSS once ready, after a
# bounded approve load (APPROVE_REQUESTS submissions) and at its peak (VmHWM).
# Stops the server and removes the directory on exit, failures included.
# The last line reads:
#   memory: <MiB> MiB resident (peak <MiB>) with <N> stored trains; start to ready <ms> ms
set -euo pipefail

cd "$(dirname "$0")/.."
TRAINS=${TRAINS:-100000}
APPROVE_REQUESTS=${APPROVE_REQUESTS:-10000}

cargo build --release --quiet -p signalbox-server -p signalbox-benches --bins >&2
# Where cargo put the binaries (CARGO_TARGET_DIR, if set, is relative to here).
BIN=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release

WORK=$(mktemp -d -t signalbox-memory.XXXXXX)
SERVER_PID=
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
on_exit() {
  local status=$?
  if [[ $status != 0 && -s $WORK/server.log ]]; then
    echo "memory.sh failed (status $status); the server's last log lines:" >&2
    tail -n 20 "$WORK/server.log" >&2
  fi
  stop_server
  rm -rf "$WORK"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

"$BIN/loadgen" prepare --dir "$WORK" --trains "$TRAINS"
echo "data directory: $(du -sh "$WORK/data" | cut -f1) for $TRAINS stored trains"
ADDR=127.0.0.1:$("$BIN/loadgen" free-port)
rss() { awk "/^$1/ {printf \"%d\", \$2 / 1024}" "/proc/$SERVER_PID/status"; }

for start in 1 2; do
  T0=$(date +%s%N)
  "$BIN/signalbox" serve --config "$WORK/signalbox.toml" --listen "$ADDR" --data-dir "$WORK/data" \
    >>"$WORK/server.out" 2>>"$WORK/server.log" &
  SERVER_PID=$!
  READY_MS=$("$BIN/loadgen" wait-ready --addr "$ADDR" --since-ns "$T0" --timeout-secs 30)
  READY_RSS=$(rss VmRSS)
  echo "start $start: ready ${READY_MS} ms after launch, ${READY_RSS} MiB resident"
  if [[ $start == 1 ]]; then
    FIRST_READY_MS=$READY_MS
    "$BIN/loadgen" run --addr "$ADDR" --workload "$WORK/workload.json" --endpoint approve \
      --clients 64 --requests "$APPROVE_REQUESTS" --warmup 0 --duration-secs 30 --id-prefix MEM |
      grep -E "requests in|^first error"
    LOADED_RSS=$(rss VmRSS)
    PEAK_RSS=$(rss VmHWM)
    echo "after the load: ${LOADED_RSS} MiB resident, peak ${PEAK_RSS} MiB"
  fi
  stop_server
done
echo "memory: ${LOADED_RSS} MiB resident (peak ${PEAK_RSS} MiB) with $((TRAINS + APPROVE_REQUESTS)) stored trains; start to ready ${FIRST_READY_MS} ms (restart ${READY_MS} ms)"
