#!/usr/bin/env bash
# The stack of docker-compose.yml, with the Spotify fake, on a Docker engine of this machine.
#   compose.sh up     engine up if none answers (infra/docker/engine.sh), base images chosen
#                     or built (infra/docker/images.sh), images built, every service healthy,
#                     then the URL. BACKBEAT_COMPOSE_PORT / BACKBEAT_COMPOSE_SPOTIFY_PORT set
#                     the gateway's and the fake's ports on 127.0.0.1 (8000, 8090).
#   compose.sh seed   the demo user (as `make up` seeds it), through the stack's gateway;
#                     `up` runs it
#   compose.sh down   every container, network and volume of the stack removed; the engine
#                     stopped if infra/docker/engine.sh started it
#   compose.sh test   the end-to-end suite against a throwaway stack of its own, on free ports
#                     (tests/compose), removed afterwards
#   compose.sh testcontainers [PYTEST ARGS]
#                     `pytest --testcontainers` over the foundation, tokens and playback
#                     integration suites (or the paths given): PostgreSQL and Kafka containers
#   compose.sh COMMAND...   any other `docker compose` command on this stack (ps, logs, ...)
source "$(dirname "$0")/../lib.sh"
source "$ROOT/infra/docker/images.sh"
cd "$ROOT"

export BACKBEAT_COMPOSE_PORT=${BACKBEAT_COMPOSE_PORT:-8000}
export BACKBEAT_COMPOSE_SPOTIFY_PORT=${BACKBEAT_COMPOSE_SPOTIFY_PORT:-8090}
COMPOSE=(docker compose --project-directory "$ROOT" -f "$ROOT/docker-compose.yml" --profile dev)

# A rebuild leaves the service images it replaced untagged: remove those, nothing else.
prune_replaced_images() {
  docker image prune -f --filter label=dev.backbeat.image=service >/dev/null 2>&1 || true
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

up() {
  local started=$SECONDS
  bash infra/docker/engine.sh up
  for var in BACKBEAT_COMPOSE_PORT BACKBEAT_COMPOSE_SPOTIFY_PORT; do
    if ! port_free "${!var}" && [ -z "$("${COMPOSE[@]}" ps -q 2>/dev/null)" ]; then
      die "port ${!var} on 127.0.0.1 is taken (by \`make up\`?): set $var to another port"
    fi
  done
  choose_images
  say "building the service images and starting the stack (base: $BACKBEAT_PYTHON_IMAGE)"
  "${COMPOSE[@]}" build -q
  prune_replaced_images
  "${COMPOSE[@]}" up -d --wait --quiet-pull "$@" || {
    "${COMPOSE[@]}" ps -a >&2
    die "the stack did not become healthy (\`bash infra/docker/compose.sh logs SERVICE\` shows why)"
  }
  seed || say "the demo user was not seeded (the lines above say why); the stack runs"
  say "compose stack up in $((SECONDS - started)) s"
  cat <<TXT

  Backbeat is running in Docker.
    web UI and public API   http://127.0.0.1:$BACKBEAT_COMPOSE_PORT/
    demo sign-in            ${BACKBEAT_DEMO_EMAIL:-demo@backbeat.dev} / ${BACKBEAT_DEMO_PASSWORD:-backbeat-demo}
    Spotify fake            http://127.0.0.1:$BACKBEAT_COMPOSE_SPOTIFY_PORT/_control/docs
    containers and logs     bash infra/docker/compose.sh ps | logs SERVICE
  Stop and remove everything with: make compose-down
TXT
}

# infra/seed.py run inside the gateway's container: the project's Python and the compose
# network's names, so the host needs nothing but Docker.
seed() {
  "${COMPOSE[@]}" exec -T \
    -e BACKBEAT_SEED_GATEWAY_URL=http://127.0.0.1:8000 \
    -e BACKBEAT_SEED_SPOTIFY_URL=http://spotify-fake:8090 \
    -e BACKBEAT_DEMO_EMAIL="${BACKBEAT_DEMO_EMAIL:-demo@backbeat.dev}" \
    -e BACKBEAT_DEMO_PASSWORD="${BACKBEAT_DEMO_PASSWORD:-backbeat-demo}" \
    gateway python - <"$ROOT/infra/seed.py"
}

down() {
  if docker version >/dev/null 2>&1; then
    "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 20
  fi
  bash infra/docker/engine.sh down
}

# Runs pytest with the engine up and the base images chosen; stops the engine afterwards only
# if it was not running before (a `make compose-up` stack keeps its engine).
with_engine_pytest() {
  local engine_was_up=0 status=0
  docker version >/dev/null 2>&1 && engine_was_up=1
  bash infra/docker/engine.sh up
  choose_images
  [ -x .venv/bin/pytest ] || bash infra/python.sh
  "$PY" -m pytest "$@" || status=$?
  prune_replaced_images
  [ "$engine_was_up" = 1 ] || bash infra/docker/engine.sh down
  return $status
}

# The integration suites that run against throwaway PostgreSQL and Kafka containers in CI.
TESTCONTAINERS_SUITES=(tests/foundation/integration tests/tokens/integration tests/playback/integration)

case "${1:-up}" in
  up) shift || true; up "$@" ;;
  down) down ;;
  seed) seed ;;
  test)
    shift
    say "running the end-to-end suite against a compose stack of its own"
    with_engine_pytest --compose tests/compose "$@"
    ;;
  testcontainers)
    shift
    paths=0
    for arg in "$@"; do [ -e "${arg%%::*}" ] && paths=1; done
    [ "$paths" = 1 ] || set -- "$@" "${TESTCONTAINERS_SUITES[@]}"
    say "running $* against PostgreSQL and Kafka containers"
    # The suites' own databases and broker, whatever the environment named for `make test`.
    unset BACKBEAT_KAFKA_BOOTSTRAP BACKBEAT_TEST_AUTH_DATABASE_URL \
      BACKBEAT_TEST_TOKENS_DATABASE_URL BACKBEAT_TEST_PLAYBACK_DATABASE_URL
    with_engine_pytest --testcontainers "$@"
    ;;
  *) "${COMPOSE[@]}" "$@" ;;
esac
