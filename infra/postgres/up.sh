#!/usr/bin/env bash
# Makes a PostgreSQL cluster answer on 127.0.0.1 and gives each service its own role and
# database. A cluster that already runs is used as it is; Debian's server is installed and
# started only when missing. Idempotent.
source "$(dirname "$0")/../lib.sh"

PGHOST=127.0.0.1
PGPORT=${BACKBEAT_PG_PORT:-5432}

pg_answers() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }

if ! command -v pg_isready >/dev/null || ! command -v pg_ctlcluster >/dev/null; then
  apt_install postgresql postgresql-contrib
fi

if pg_answers; then
  say "PostgreSQL already answers on $PGHOST:$PGPORT: using it"
else
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -q "^$version/main$"; then
    say "creating PostgreSQL $version cluster 'main'"
    as_root pg_createcluster "$version" main --port "$PGPORT" >/dev/null
  fi
  say "starting PostgreSQL $version on port $PGPORT"
  as_root pg_ctlcluster "$version" main start
  echo "$version main" > "$VAR/run/postgres.started"
  for _ in $(seq 1 60); do pg_answers && break; sleep 0.5; done
  pg_answers || die "PostgreSQL did not answer on $PGHOST:$PGPORT; see /var/log/postgresql/"
fi

# Roles and databases, as the cluster's superuser over the local socket.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
as_postgres psql -q -X -p "$PGPORT" -d postgres -f - < "$ROOT/infra/postgres/init.sql" >/dev/null \
  || die "could not create the service roles and databases (infra/postgres/init.sql)"
say "PostgreSQL ready: databases auth, tokens, playback (and *_test), one role each"
