#!/usr/bin/env bash
# Start PostgreSQL 15 on 127.0.0.1:$PG_PORT (default 5432) with trust auth on the socket and loopback,
# and a database "test" owned by postgres. Debian 12, run as root. Idempotent: safe to re-run while up.
set -euo pipefail
V=15 C="${PG_CLUSTER:-main}" PORT="${PG_PORT:-5432}"
if [ ! -x /usr/lib/postgresql/$V/bin/postgres ] || ! command -v pg_ctlcluster >/dev/null; then
  # Only when absent: installing over a running server upgrades it under the postmaster.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql-$V postgresql-client-$V >/dev/null
fi
[ -d /etc/postgresql/$V/$C ] || pg_createcluster $V "$C" --port "$PORT" >/dev/null
HBA=/etc/postgresql/$V/$C/pg_hba.conf
if ! grep -q '^# ci-trust' "$HBA"; then
  # The first matching line wins, so the trust rules go on top.
  { echo '# ci-trust'; echo 'local all all trust'
    echo 'host all all 127.0.0.1/32 trust'; echo 'host all all ::1/128 trust'; cat "$HBA"; } >"$HBA.new"
  chown postgres:postgres "$HBA.new"; chmod 640 "$HBA.new"; mv "$HBA.new" "$HBA"
fi
pg_conftool $V "$C" set listen_addresses localhost
pg_conftool $V "$C" set port "$PORT"
status=$(pg_lsclusters -h | awk -v v="$V" -v c="$C" '$1==v && $2==c {print $4}')
if [[ "$status" == online* ]]; then
  pg_ctlcluster $V "$C" reload
else
  pg_ctlcluster --skip-systemctl-redirect $V "$C" start
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$PORT" && break; sleep 1; done
export PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres
if [ "$(psql -d postgres -Atc "select 1 from pg_database where datname='test'")" != 1 ]; then
  psql -d postgres -qc "create database test owner postgres"
fi
echo "postgres ready: postgres://postgres@127.0.0.1:$PORT/test" >&2
