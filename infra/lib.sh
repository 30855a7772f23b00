# Shared helpers for the infra scripts: paths, logging and the per-machine state folder.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Downloads and data live outside git, in one folder per checkout's user.
BACKBEAT_HOME="${BACKBEAT_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/backbeat}"
VAR="$ROOT/var"
mkdir -p "$BACKBEAT_HOME" "$VAR/log" "$VAR/run"

say() { printf '\033[1m[backbeat]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[backbeat] error:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (run as root or install sudo)"; fi
}

apt_install() {
  say "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f "$BACKBEAT_HOME/.apt-updated" ] || [ -n "$(find "$BACKBEAT_HOME/.apt-updated" -mmin +1440 2>/dev/null)" ]; then
    as_root apt-get update -qq
    touch "$BACKBEAT_HOME/.apt-updated"
  fi
  as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

PY="$ROOT/.venv/bin/python"

# A process sees, of the BACKBEAT_* variables, only the shared settings and those it owns:
# BACKBEAT_<OWN>_* for each OWN given as a prefix (TOKENS), or a variable named in full. A
# service's process never holds another's database password, client secret or keys.
BACKBEAT_SHARED_VARS=(BACKBEAT_ENVIRONMENT BACKBEAT_KAFKA_BOOTSTRAP BACKBEAT_LOG_LEVEL)

# Sets OWN_ENV to the env(1) arguments that unset every variable OWN... does not own:
#   own_env TOKENS; env "${OWN_ENV[@]}" "$PY" -m backbeat.tokens &
# (env itself in the background, so that $! is the service's own pid).
own_env() {
  local var item keep
  OWN_ENV=()
  while IFS= read -r var; do
    [[ $var == BACKBEAT_* ]] || continue
    keep=
    for item in "${BACKBEAT_SHARED_VARS[@]}" "$@"; do
      if [[ $var == "$item" || $var == "BACKBEAT_${item}_"* ]]; then keep=1; fi
    done
    [ -n "$keep" ] || OWN_ENV+=(-u "$var")
  done < <(compgen -e)
}

# Runs a command in the foreground with only what OWN... owns:
#   with_own_env AUTH -- "$PY" -m backbeat.auth.store.migrate
with_own_env() {
  local own=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do own+=("$1"); shift; done
  [ "$#" -gt 1 ] || die "with_own_env: no command after --"
  shift
  own_env "${own[@]}"
  env "${OWN_ENV[@]}" "$@"
}
