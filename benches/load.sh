#!/usr/bin/env bash
# HTTP load on a real `signalbox serve` over loopback (docs/performance.md).
#
# Builds in release, prepares a temporary data directory with the realistic
# configuration (30 regions, 50 freezes, 1,000 SLAs, 100 live exceptions, 10,000
# recorded stage trains), starts the server on 127.0.0.1 at a free port, then:
#   1. approve:  CLIENTS simulated pipelines submitting distinct trains to
#                POST /v1/trains (each decision durably stored before its reply);
#   2. evaluate: the same load against POST /v1/evaluate (no storage).
# Each run is bounded by a request count and a duration cap. The server and the
# directory are removed on exit, failures included. The last line reads:
#   approve: <N> decisions/s p50 <ms> p99 <ms>; evaluate: <N> req/s p99 <ms>
set -euo pipefail

cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-64}
APPROVE_REQUESTS=${APPROVE_REQUESTS:-30000}
EVALUATE_REQUESTS=${EVALUATE_REQUESTS:-60000}
WARMUP=${WARMUP:-1000}
DURATION_SECS=${DURATION_SECS:-30}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}

cargo build --release --quiet -p signalbox-server -p signalbox-benches --bins >&2
# Where cargo put the binaries (CARGO_TARGET_DIR, if set, is relative to here).
BIN=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release

WORK=$(mktemp -d -t signalbox-load.XXXXXX)
SERVER_PID=
cleanup() {
  local status=$?
  if [[ $status != 0 && -s $WORK/server.log ]]; then
    echo "load.sh failed (status $status); the server's last log lines:" >&2
    tail -n 20 "$WORK/server.log" >&2
  fi
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN/loadgen" prepare --dir "$WORK"
ADDR=127.0.0.1:$("$BIN/loadgen" free-port)
T0=$(date +%s%N)
"$BIN/signalbox" serve --config "$WORK/signalbox.toml" --listen "$ADDR" --data-dir "$WORK/data" \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
READY_MS=$("$BIN/loadgen" wait-ready --addr "$ADDR" --since-ns "$T0" --timeout-secs 30)
echo "server on $ADDR ready ${READY_MS} ms after launch (pid $SERVER_PID; $(nproc) cores)"

field() { # file key
  grep '^RESULT' "$WORK/$1.txt" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
run() { # endpoint requests
  local before after count
  before=$(server_ticks)
  "$BIN/loadgen" run --addr "$ADDR" --workload "$WORK/workload.json" --endpoint "$1" \
    --clients "$CLIENTS" --requests "$2" --warmup "$WARMUP" --duration-secs "$DURATION_SECS" \
    --threads "$LOADGEN_THREADS" | tee "$WORK/$1.txt"
  after=$(server_ticks)
  count=$(($(field "$1" requests) + WARMUP))
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$count" \
    'BEGIN { printf "server CPU: %.0f µs per request (warm-up included)\n", t * 1e6 / hz / n }'
}
run approve "$APPROVE_REQUESTS"
run evaluate "$EVALUATE_REQUESTS"

RSS_KB=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
HWM_KB=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
echo "server resident set after both runs: $((RSS_KB / 1024)) MiB (peak $((HWM_KB / 1024)) MiB)"

echo "approve: $(field approve rate) decisions/s p50 $(field approve p50_ms) p99 $(field approve p99_ms); evaluate: $(field evaluate rate) req/s p99 $(field evaluate p99_ms)"
