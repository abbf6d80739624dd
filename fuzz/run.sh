#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60); fails on any crash.
#   bash fuzz/run.sh 600
# Needs the nightly toolchain (rustup toolchain install nightly) and cargo-fuzz
# (installed here when missing). Seeds come from fixtures/ and docs/examples/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
TARGETS=(train_json config_toml chat_parse slack_form policy_input)

# Seed corpora from the repository's own examples.
mkdir -p corpus/train_json corpus/policy_input corpus/config_toml corpus/chat_parse corpus/slack_form
cp ../docs/examples/train-*.json corpus/train_json/ 2>/dev/null || true
cp ../docs/examples/train-*.json corpus/policy_input/ 2>/dev/null || true
cp ../docs/examples/signalbox.toml ../fixtures/configs/*.toml corpus/config_toml/ 2>/dev/null || true
printf 'describe CHG7687021' > corpus/chat_parse/describe
printf 'create exception approved global.business_hours lasting 4h for containers-kubernetes tugboat-updater auto-update because patch' > corpus/chat_parse/exception
printf 'user_id=U024BE7LH&command=%%2Fsignalbox&text=stop+trains+all+CIE+1&response_url=http%%3A%%2F%%2F127.0.0.1%%2Fx' > corpus/slack_form/stop

failed=()
for target in "${TARGETS[@]}"; do
  echo "=== fuzz: $target for ${SECONDS_EACH}s ==="
  # pipefail: the run's own exit status decides, not tail's.
  if ! cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 2>&1 | tail -n 3; then
    failed+=("$target")
  fi
done
if (( ${#failed[@]} )); then
  echo "fuzz: crashes in ${failed[*]} (see fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, ${SECONDS_EACH}s each, no crash"
