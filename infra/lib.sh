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
