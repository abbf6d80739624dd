#!/usr/bin/env bash
# Connection exhaustion on loopback: starts the real server (default limits:
# max_connections 1024, header_timeout 10s, idle_timeout 60s) in a temporary
# directory, opens SOCKETS idle and half-sent connections to it (default 3000,
# at most 20000), then times GET /healthz on a new connection. Exits 0 when
# /healthz answered 200 within a second every time, 1 otherwise.
#
#   benches/conn-exhaustion.sh              # 3000 sockets
#   SOCKETS=10000 benches/conn-exhaustion.sh
#
# Loopback only; everything it opens is closed when it ends (at most ~2 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

sockets=${SOCKETS:-3000}
if ! [[ "$sockets" =~ ^[0-9]+$ ]] || [ "$sockets" -lt 1 ] || [ "$sockets" -gt 20000 ]; then
  echo "SOCKETS must be between 1 and 20000" >&2
  exit 2
fi
# This shell's own sockets need descriptors too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bin=${SIGNALBOX_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p signalbox-server
  bin="${CARGO_TARGET_DIR:-target}/release/signalbox"
fi

dir=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

cat > "$dir/signalbox.toml" <<'TOML'
[server]
listen = "127.0.0.1:0"
data_dir = "data"

[[auth.tokens]]
name = "bench"
role = "conductor"
sha256 = "8c9d4f9b6b0b3f3a6d1f8a4a2f1c0e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
TOML

"$bin" serve --config "$dir/signalbox.toml" > "$dir/stdout" 2> "$dir/stderr" &
server=$!
for _ in $(seq 1 200); do
  address=$(sed -n 's|^signalbox listening on http://\([^ ]*\).*|\1|p' "$dir/stdout")
  [ -n "$address" ] && break
  sleep 0.05
done
if [ -z "${address:-}" ]; then
  echo "the server did not start:" >&2
  cat "$dir/stderr" >&2
  exit 1
fi

python3 - "$address" "$sockets" <<'PY'
import socket, sys, time

host, port = sys.argv[1].rsplit(":", 1)
count = int(sys.argv[2])
assert host in ("127.0.0.1", "::1", "localhost"), "loopback only"

def healthz():
    started = time.monotonic()
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: signalbox\r\nConnection: close\r\n\r\n")
        answer = s.recv(200).decode("latin-1")
        s.close()
        status = answer.split("\r\n", 1)[0]
    except OSError as e:
        status = f"error: {e}"
    return status, time.monotonic() - started

opened, failed = [], 0
for i in range(count):
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        if i % 2:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: signalbox\r\nX-Slow: ")
        opened.append(s)
    except OSError:
        failed += 1
print(f"opened {len(opened)} idle and half-sent connections ({failed} could not be opened)")

ok = True
for attempt in range(5):
    status, took = healthz()
    good = status.startswith("HTTP/1.1 200") and took < 1.0
    ok &= good
    print(f"/healthz: {status!r} in {took * 1000:.1f} ms {'ok' if good else 'TOO SLOW OR FAILED'}")
    time.sleep(0.2)

closed = 0
for s in opened:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print(f"{closed} of our {len(opened)} connections were already closed by the server (the cap sheds the oldest idle ones)")
for s in opened:
    s.close()
print("responsive" if ok else "NOT RESPONSIVE")
sys.exit(0 if ok else 1)
PY
