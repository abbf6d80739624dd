#!/usr/bin/env bash
# The approve load, side by side in one run (docs/performance.md, "Replicas"):
#   1. one `signalbox serve` on the embedded SQLite (as benches/load.sh);
#   2. two replicas on one PostgreSQL database, the same clients spread over both.
# Both start from the same prepared state (the realistic configuration of
# load.sh; the PostgreSQL database is filled from it with `signalbox store copy`).
# Needs root for `.ci/pg.sh` (it starts the machine's PostgreSQL). The last
# two lines read:
#   sqlite, 1 server: <N> decisions/s p50 <ms> p99 <ms>
#   postgres, 2 replicas: <N> decisions/s p50 <ms> p99 <ms>
# with, before them, the CPU each process spent per decision (what limits it).
set -euo pipefail

cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-64}
APPROVE_REQUESTS=${APPROVE_REQUESTS:-30000}
WARMUP=${WARMUP:-1000}
DURATION_SECS=${DURATION_SECS:-30}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}

cargo build --release --quiet -p signalbox-server -p signalbox-benches --bins >&2
BIN=$(realpath -m "${CARGO_TARGET_DIR:-target}")/release
ADMIN_URL=$(bash .ci/pg.sh)
DATABASE=sbx_load
DB_URL="${ADMIN_URL%/*}/$DATABASE"
quiet_psql() { PGOPTIONS='--client-min-messages=warning' psql "$ADMIN_URL" -qAt "$@"; }

WORK=$(mktemp -d -t signalbox-replicas.XXXXXX)
PIDS=()
cleanup() {
  local status=$?
  if [[ $status != 0 ]]; then
    for log in "$WORK"/*.log; do
      [[ -s $log ]] && { echo "load-replicas.sh failed (status $status); $log:" >&2; tail -n 20 "$log" >&2; }
    done
  fi
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  quiet_psql -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN/loadgen" prepare --dir "$WORK"
quiet_psql -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" -c "CREATE DATABASE $DATABASE"
"$BIN/signalbox" store copy --from "sqlite://$WORK/data" --to "$DB_URL" | tail -n 1

# start NAME [ENV...]: a server on a free port; sets ADDR and appends its pid.
start() {
  local name=$1 t0
  shift
  ADDR=127.0.0.1:$("$BIN/loadgen" free-port)
  t0=$(date +%s%N)
  env "$@" "$BIN/signalbox" serve --config "$WORK/signalbox.toml" --listen "$ADDR" --data-dir "$WORK/data" \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PIDS+=($!)
  "$BIN/loadgen" wait-ready --addr "$ADDR" --since-ns "$t0" --timeout-secs 30 >/dev/null
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU ticks of every process of the PostgreSQL server (its backends included).
pg_ticks() {
  local total=0 pid
  for pid in $(pgrep -u postgres); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
field() { grep '^RESULT' "$WORK/$1.txt" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
approve() { # name addrs
  "$BIN/loadgen" run --addr "$2" --workload "$WORK/workload.json" --endpoint approve \
    --clients "$CLIENTS" --requests "$APPROVE_REQUESTS" --warmup "$WARMUP" --duration-secs "$DURATION_SECS" \
    --threads "$LOADGEN_THREADS" --id-prefix "$3" | tee "$WORK/$1.txt"
}
per_request() { # ticks requests
  awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$2" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }'
}

echo "== sqlite: one server ($(nproc) cores)"
start sqlite SIGNALBOX_DATABASE_URL=
SQLITE_PID=${PIDS[-1]}
before=$(ticks "$SQLITE_PID")
approve sqlite "$ADDR" LS
n=$(($(field sqlite requests) + WARMUP))
echo "server CPU: $(per_request $(($(ticks "$SQLITE_PID") - before)) "$n") µs per decision"
kill -TERM "$SQLITE_PID"
wait "$SQLITE_PID" || true

echo "== postgres: two replicas on one database"
start replica-a "SIGNALBOX_DATABASE_URL=$DB_URL"
A=$ADDR A_PID=${PIDS[-1]}
start replica-b "SIGNALBOX_DATABASE_URL=$DB_URL"
B=$ADDR B_PID=${PIDS[-1]}
before_a=$(ticks "$A_PID") before_b=$(ticks "$B_PID") before_pg=$(pg_ticks)
commits_before=$(quiet_psql -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$DATABASE'")
# Where PostgreSQL's time goes, when pg_stat_statements is loaded
# (shared_preload_libraries): the database is new, so its figures are this run's.
STATEMENTS=$(quiet_psql -c "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'" 2>/dev/null || echo 0)
approve postgres "$A,$B" LP
n=$(($(field postgres requests) + WARMUP))
commits=$(($(quiet_psql -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$DATABASE'") - commits_before))
echo "CPU per decision: replica A $(per_request $(($(ticks "$A_PID") - before_a)) "$n") µs, replica B $(per_request $(($(ticks "$B_PID") - before_b)) "$n") µs, PostgreSQL $(per_request $(($(pg_ticks) - before_pg)) "$n") µs"
echo "PostgreSQL transactions committed: $commits for $n decisions (reads and write batches)"
if [[ $STATEMENTS == 1 ]]; then
  echo "PostgreSQL's busiest statements (pg_stat_statements): calls, total ms, mean µs, statement"
  quiet_psql -F ' | ' -c "SELECT calls, round(total_exec_time)::bigint, round(mean_exec_time * 1000)::bigint,
      left(regexp_replace(query, '\s+', ' ', 'g'), 90)
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$DATABASE'
    ORDER BY total_exec_time DESC LIMIT 12"
fi

echo "sqlite, 1 server: $(field sqlite rate) decisions/s p50 $(field sqlite p50_ms) p99 $(field sqlite p99_ms)"
echo "postgres, 2 replicas: $(field postgres rate) decisions/s p50 $(field postgres p50_ms) p99 $(field postgres p99_ms)"
