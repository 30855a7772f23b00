#!/usr/bin/env bash
# Stops the PostgreSQL cluster only if infra/postgres/up.sh started it.
source "$(dirname "$0")/../lib.sh"
marker="$VAR/run/postgres.started"
if [ -f "$marker" ]; then
  read -r version cluster < "$marker"
  say "stopping PostgreSQL $version/$cluster"
  as_root pg_ctlcluster "$version" "$cluster" stop || true
  rm -f "$marker"
fi
