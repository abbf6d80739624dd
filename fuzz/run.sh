#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60); fails on any crash.
#   bash fuzz/run.sh 600
#   JOBS=2 bash fuzz/run.sh 600      # two targets at a time
# Needs the nightly toolchain (rustup toolchain install nightly) and cargo-fuzz
# (installed here when missing). Seeds come from fixtures/ and docs/examples/.
# Each target's whole output is in fuzz/logs/<target>.log; a crash leaves its
# input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
JOBS=${JOBS:-1}
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
TARGETS=(train_json config_toml chat_parse slack_form policy_input)

# Seed corpora from the repository's own examples.
mkdir -p logs
for t in "${TARGETS[@]}"; do mkdir -p "corpus/$t"; done
cp ../docs/examples/train-*.json corpus/train_json/ 2>/dev/null || true
cp ../docs/examples/train-*.json corpus/policy_input/ 2>/dev/null || true
cp ../docs/examples/signalbox.toml ../fixtures/configs/*.toml corpus/config_toml/ 2>/dev/null || true
printf 'describe CHG7687021' > corpus/chat_parse/describe
printf 'create exception approved global.business_hours lasting 4h for containers-kubernetes tugboat-updater auto-update because patch' > corpus/chat_parse/exception
printf 'user_id=U024BE7LH&command=%%2Fsignalbox&text=stop+trains+all+CIE+1&response_url=http%%3A%%2F%%2F127.0.0.1%%2Fx' > corpus/slack_form/stop

cargo +nightly fuzz build >logs/build.log 2>&1 || { tail -n 20 logs/build.log >&2; exit 1; }

run_one() {
  local target=$1
  if cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 \
    >"logs/$target.log" 2>&1; then
    # libFuzzer's last line: "Done N runs in S second(s)".
    echo "fuzz: $target ok: $(grep -E '^Done [0-9]+ runs' "logs/$target.log" | tail -n 1)"
  else
    echo "fuzz: $target FAILED (logs/$target.log, artifacts/$target/)"
    return 1
  fi
}

failed=0
running=0
for target in "${TARGETS[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if (( running >= JOBS )); then
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  fi
done
while (( running > 0 )); do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done
if (( failed )); then
  echo "fuzz: $failed target(s) crashed or failed" >&2
  exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, ${SECONDS_EACH}s each, no crash"
