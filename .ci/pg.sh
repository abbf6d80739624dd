#!/usr/bin/env bash
# Starts the machine's PostgreSQL for the tests and prints the URL they read.
# Installs PostgreSQL with apt-get only when it is missing, starts the cluster
# (`15 main` on this image, or the first one `pg_lsclusters` lists), and makes
# a role `signalbox` (password `signalbox`, CREATEDB: each test makes its own
# database) and a database `signalbox_test`. Idempotent. As root.
#
#   export SIGNALBOX_TEST_DATABASE_URL="$(bash .ci/pg.sh)"
set -euo pipefail

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  apt-get update >&2
  apt-get install -y postgresql >&2
fi
if [ -z "$(pg_lsclusters -h)" ]; then
  pg_createcluster 15 main >&2 || pg_createcluster "$(ls /usr/lib/postgresql | sort -n | tail -1)" main >&2
fi
read -r version cluster port status _ < <(pg_lsclusters -h | head -1)
if [ "$status" != "online" ]; then
  pg_ctlcluster "$version" "$cluster" start >&2
fi

psql_admin() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qAt $*"; }
for _ in $(seq 1 50); do
  psql_admin "-c 'SELECT 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
if [ "$(psql_admin "-c \"SELECT 1 FROM pg_roles WHERE rolname = 'signalbox'\"")" != "1" ]; then
  psql_admin "-c \"CREATE ROLE signalbox\"" >&2
fi
psql_admin "-c \"ALTER ROLE signalbox LOGIN CREATEDB PASSWORD 'signalbox'\"" >&2
if [ "$(psql_admin "-c \"SELECT 1 FROM pg_database WHERE datname = 'signalbox_test'\"")" != "1" ]; then
  psql_admin "-c 'CREATE DATABASE signalbox_test OWNER signalbox'" >&2
fi
# Databases the tests made and did not drop (a run cut short, the real-binary
# suites' databases kept until their process ended).
for leftover in $(psql_admin "-c \"SELECT datname FROM pg_database WHERE datname LIKE 'sbx\\_%'\""); do
  psql_admin "-c 'DROP DATABASE IF EXISTS $leftover WITH (FORCE)'" >&2
done
echo "postgres://signalbox:signalbox@127.0.0.1:${port}/signalbox_test"
