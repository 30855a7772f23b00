#!/usr/bin/env bash
# Applies every service's database migrations. With --test, against the *_test databases.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
for svc in auth tokens playback; do
  module="backbeat.$svc.store.migrate"
  "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is None)" \
    2>/dev/null || continue
  upper=${svc^^}
  if [ "${1:-}" = "--test" ]; then
    url_var="BACKBEAT_TEST_${upper}_DATABASE_URL"
    url="${!url_var:-postgresql+asyncpg://$svc:backbeat-dev-$svc@127.0.0.1:5432/${svc}_test?ssl=disable}"
  else
    url_var="BACKBEAT_${upper}_DATABASE_URL"
    url="${!url_var:-postgresql+asyncpg://$svc:backbeat-dev-$svc@127.0.0.1:5432/$svc?ssl=disable}"
  fi
  say "migrating $svc"
  # Each service's migrations see its own database URL only.
  with_own_env "$upper" -- env "BACKBEAT_${upper}_DATABASE_URL=$url" "$PY" -m "$module" \
    || die "migrations of $svc failed"
done
