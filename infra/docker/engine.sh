#!/usr/bin/env bash
# A Docker engine and the Compose v2 plugin for `make compose-*` and `pytest --testcontainers`.
#   engine.sh up       use the engine that answers, else install Debian's docker.io and start
#                      dockerd (log var/log/dockerd.log, pid var/run/dockerd.pid); make sure
#                      `docker compose` (v2) is there, building the plugin once if it is not
#   engine.sh down     stop dockerd if this script started it (an engine it found is left alone)
#   engine.sh status
# The engine this script starts runs without the default bridge and without iptables rules
# (`--bridge=none --iptables=false`): containers talk over the user-defined networks compose
# creates, published ports go through Docker's userland proxy on 127.0.0.1, and nothing is
# NATed to the outside. Builds that fetch packages use the host's network.
source "$(dirname "$0")/../lib.sh"

COMPOSE_VERSION=${BACKBEAT_COMPOSE_VERSION:-v2.40.3}
PIDFILE="$VAR/run/dockerd.pid"
STARTED="$VAR/run/dockerd.started"
LOG="$VAR/log/dockerd.log"
PLUGIN_DIR="$HOME/.docker/cli-plugins"
PLUGIN_CACHE="$BACKBEAT_HOME/docker-compose-$COMPOSE_VERSION"

engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
ours() { [ -f "$STARTED" ] && [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

ensure_engine() {
  if engine_answers; then
    ours || say "a Docker engine already answers ($(docker version --format '{{.Server.Version}}')): using it"
    return
  fi
  command -v dockerd >/dev/null && command -v containerd >/dev/null || apt_install docker.io
  command -v docker >/dev/null || apt_install docker.io
  say "starting dockerd (log var/log/dockerd.log)"
  # setsid: the engine outlives this script and make, and a Ctrl-C in the terminal.
  as_root setsid dockerd --bridge=none --iptables=false --pidfile "$PIDFILE" >>"$LOG" 2>&1 </dev/null &
  touch "$STARTED"
  local deadline=$((SECONDS + 60))
  until engine_answers; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$LOG" >&2
      die "dockerd did not answer within 60 s (log: var/log/dockerd.log)"
    fi
    sleep 0.5
  done
  say "Docker engine $(docker version --format '{{.Server.Version}}') ready"
}

# Compose v2 is not packaged by Debian (its docker-compose 1.x cannot read this compose file):
# build the plugin from its Go module once, keep it in the cache, install it for this user.
ensure_compose() {
  if docker compose version --short 2>/dev/null | grep -q '^v\?2\.'; then return; fi
  if [ ! -x "$PLUGIN_CACHE" ]; then
    command -v go >/dev/null || apt_install golang-go
    say "building the Docker Compose $COMPOSE_VERSION plugin from its Go module (once, about 2 minutes)"
    local dir work
    dir=$(go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -d "$dir" ] || die "could not download the Go module github.com/docker/compose/v2@$COMPOSE_VERSION"
    work=$(mktemp -d)
    cp -r "$dir" "$work/compose"
    chmod -R u+w "$work/compose"
    (cd "$work/compose" && go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      -o "$PLUGIN_CACHE.tmp" ./cmd) >"$VAR/log/compose-build.log" 2>&1 || {
      tail -n 20 "$VAR/log/compose-build.log" >&2
      rm -rf "$work"
      die "building Docker Compose failed (log: var/log/compose-build.log)"
    }
    rm -rf "$work"
    mv "$PLUGIN_CACHE.tmp" "$PLUGIN_CACHE"
  fi
  mkdir -p "$PLUGIN_DIR"
  ln -sf "$PLUGIN_CACHE" "$PLUGIN_DIR/docker-compose"
  docker compose version >/dev/null || die "docker compose does not run (plugin: $PLUGIN_DIR/docker-compose)"
}

up() {
  ensure_engine
  ensure_compose
}

down() {
  if ours; then
    local pid
    pid=$(cat "$PIDFILE")
    say "stopping dockerd (pid $pid)"
    as_root kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && as_root kill -9 "$pid"
  fi
  rm -f "$STARTED"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  compose) ensure_compose ;;
  status) if engine_answers; then echo "engine answers$(ours && echo " (started by this checkout, pid $(cat "$PIDFILE"))")"; else echo "no engine"; exit 1; fi ;;
  *) die "usage: engine.sh up|down|status" ;;
esac
