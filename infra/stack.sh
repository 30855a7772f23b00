#!/usr/bin/env bash
# The whole local stack: infrastructure, migrations, the Spotify fake and every service.
#   stack.sh up     start what is not running, seed the demo data, print where to look
#   stack.sh down   stop every process this checkout started (services, Kafka, PostgreSQL)
#   stack.sh run NAME -- COMMAND...
#                   run a one-off command with the configuration service NAME gets, e.g.
#                   stack.sh run tokens -- .venv/bin/python -m backbeat.tokens.keys rotate
# Each process sees the shared settings and its own BACKBEAT_<NAME>_* variables of
# infra/stack.env only (own_env in lib.sh): no service holds another's database password.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# name | python module | port | extra arguments
SERVICES=(
  # shellcheck disable=SC2016 # expanded after stack.env is read
  'spotify-fake|backbeat.spotify_fake|8090|--host 127.0.0.1 --port 8090 --listeners 5 --app ${BACKBEAT_TOKENS_SPOTIFY_CLIENT_ID}:${BACKBEAT_TOKENS_SPOTIFY_CLIENT_SECRET}:${BACKBEAT_TOKENS_SPOTIFY_REDIRECT_URI}'
  "auth|backbeat.auth|8001|"
  "auth-clients|provision|0|"
  "tokens|backbeat.tokens|8002|"
  "playback|backbeat.playback|8003|"
  "watcher|backbeat.watcher|8004|"
  "gateway|backbeat.gateway|8000|"
)

has_module() { "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null; }
alive() { [ -f "$VAR/run/$1.pid" ] && kill -0 "$(cat "$VAR/run/$1.pid")" 2>/dev/null; }

wait_http() { # name port
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    alive "$1" || { tail -n 30 "$VAR/log/$1.log" >&2; die "$1 exited while starting (log: var/log/$1.log)"; }
    curl -fsS -o /dev/null "http://127.0.0.1:$2/health/ready" 2>/dev/null && return 0
    sleep 0.5
  done
  tail -n 30 "$VAR/log/$1.log" >&2
  die "$1 did not become ready on port $2 (log: var/log/$1.log)"
}

up() {
  local started=$SECONDS
  bash infra/infra.sh
  set -a; source infra/stack.env; set +a
  bash infra/migrate.sh
  # The service list names settings from stack.env: expand it now.
  local expanded=()
  for entry in "${SERVICES[@]}"; do expanded+=("$(eval "echo \"$entry\"")"); done
  SERVICES=("${expanded[@]}")
  for entry in "${SERVICES[@]}"; do
    IFS='|' read -r name module port args <<<"$entry"
    if [ "$module" = provision ]; then
      # Watcher and playback authenticate to tokens with these clients (secrets in stack.env).
      for client in watcher playback; do
        with_own_env AUTH "BACKBEAT_${client^^}_CLIENT_SECRET" -- \
          "$PY" -m backbeat.auth.clients ensure --name "$client" --audience tokens \
          --scope tokens:read --secret-env "BACKBEAT_${client^^}_CLIENT_SECRET" >/dev/null
      done
      continue
    fi
    has_module "$module.__main__" || { say "$name: not part of this build yet, skipped"; continue; }
    if alive "$name"; then say "$name already running (pid $(cat "$VAR/run/$name.pid"))"; continue; fi
    say "starting $name on 127.0.0.1:$port (log var/log/$name.log)"
    own_env "${name^^}"
    # shellcheck disable=SC2086
    env "${OWN_ENV[@]}" nohup "$PY" -m "$module" $args >>"$VAR/log/$name.log" 2>&1 &
    echo $! >"$VAR/run/$name.pid"
    wait_http "$name" "$port"
  done
  with_own_env SEED DEMO -- "$PY" infra/seed.py
  say "stack up in $((SECONDS - started)) s"
  cat <<TXT

  Backbeat is running.
    web UI and public API   http://127.0.0.1:8000/
    demo sign-in            ${BACKBEAT_DEMO_EMAIL:-demo@backbeat.dev} / ${BACKBEAT_DEMO_PASSWORD:-backbeat-demo}
    Spotify fake            http://127.0.0.1:8090/_control/docs
    logs                    $VAR/log/
  Stop everything with: make down
TXT
}

down() {
  for entry in "${SERVICES[@]}"; do
    IFS='|' read -r name _ _ _ <<<"$entry"
    [ "$name" = auth-clients ] && continue
    if alive "$name"; then
      say "stopping $name"
      kill "$(cat "$VAR/run/$name.pid")" || true
    fi
    rm -f "$VAR/run/$name.pid"
  done
  bash infra/kafka/kafka.sh down
  bash infra/postgres/down.sh
}

run() { # NAME -- COMMAND...
  [ "$#" -ge 3 ] && [ "$2" = -- ] || die "usage: stack.sh run NAME -- COMMAND..."
  local name=$1
  shift 2
  set -a; source infra/stack.env; set +a
  with_own_env "${name^^}" -- "$@"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  run) shift; run "$@" ;;
  *) die "usage: stack.sh up|down|run NAME -- COMMAND..." ;;
esac
