#!/usr/bin/env bash
# API contract fuzzing: schemathesis (from PyPI, in a virtualenv of its own)
# against the real server on a temporary directory and a loopback port, with
# a configuration holding a conductor token, reading /openapi.json and running
# every check. Passes with 0 server errors and 0 schema violations.
#
#   crates/signalbox-server/tests/schemathesis.sh            # the short pass (CI)
#   MAX_EXAMPLES=200 crates/signalbox-server/tests/schemathesis.sh
#
# Environment: MAX_EXAMPLES (examples per operation, default 25), VENV (where
# schemathesis is installed, default target/schemathesis-venv), SIGNALBOX_BIN
# (a built binary; default: cargo build). The Slack routes are left out: they
# are authenticated by Slack's signature, which a fuzzer cannot make.
#
# One check is left out: `positive_data_acceptance` (every request the schema
# allows must succeed). What the API accepts depends on the configuration and
# the data (configured environments, regions and scopes, known policies,
# recorded trains and exceptions), which a static document cannot list, so a
# schema-valid `"environment": "x"` is rightly a 400. Every other check runs:
# no 5xx, responses conform to their schemas, documented statuses and content
# types, negative data refused, auth enforced (ignored_auth), stateful links.
set -euo pipefail
cd "$(dirname "$0")/../../.."

max_examples=${MAX_EXAMPLES:-25}
target=${CARGO_TARGET_DIR:-target}
venv=${VENV:-$target/schemathesis-venv}
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis==4.*'
fi

bin=${SIGNALBOX_BIN:-}
if [ -z "$bin" ]; then
  cargo build -q -p signalbox-server
  bin="$target/debug/signalbox"
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

dir=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

token="sbx_schemathesis_$(date +%s%N)"
digest=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
cat > "$dir/signalbox.toml" <<TOML
[server]
listen = "127.0.0.1:0"
data_dir = "data"

[[auth.tokens]]
name = "fuzzer"
role = "conductor"
sha256 = "$digest"

[policies]
evaluation_timeout = "5s"
TOML

"$bin" serve --config "$dir/signalbox.toml" > "$dir/stdout" 2> "$dir/stderr" &
server=$!
address=
for _ in $(seq 1 200); do
  address=$(sed -n 's|^signalbox listening on http://\([^ ]*\).*|\1|p' "$dir/stdout")
  [ -n "$address" ] && break
  sleep 0.05
done
if [ -z "$address" ]; then
  echo "the server did not start:" >&2
  cat "$dir/stderr" >&2
  exit 1
fi

# From the temporary directory, so schemathesis keeps its cache there, not in the repository.
venv=$(cd "$venv" && pwd)
cd "$dir"
"$venv/bin/schemathesis" run "http://$address/openapi.json" \
  --url "http://$address" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --header "Authorization: Bearer $token" \
  --exclude-path-regex '^/slack/' \
  --max-examples "$max_examples" \
  --seed 15 \
  --no-color \
  --suppress-health-check all
