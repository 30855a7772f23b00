#!/usr/bin/env bash
# Creates .venv with every Backbeat package installed editable, pinned by constraints.txt.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

UV_VERSION=0.13.8
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $(python3 --version)"
  python3 -m venv .venv
fi
if ! .venv/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  .venv/bin/python -m pip install -q "uv==$UV_VERSION"
fi

editables=()
for p in libs/*/pyproject.toml services/*/pyproject.toml; do
  [ -f "$p" ] && editables+=(-e "$(dirname "$p")")
done

if [ "${1:-}" = "--relock" ]; then
  # Re-resolve to the newest versions and rewrite constraints.txt (no registry address in it).
  say "resolving newest versions into constraints.txt"
  .venv/bin/uv pip install -q --python .venv/bin/python -r requirements-dev.txt "${editables[@]}"
  {
    echo "# Exact versions of every third-party package, written by 'infra/python.sh --relock'."
    .venv/bin/uv pip freeze --python .venv/bin/python 2>/dev/null | grep -v -E '^(-e |backbeat-|pip==|setuptools==)' || true
  } > constraints.txt
  exit 0
fi

say "installing Python packages (${#editables[@]} editable entries) pinned by constraints.txt"
.venv/bin/uv pip install -q --python .venv/bin/python \
  -c constraints.txt --build-constraints constraints.txt \
  -r requirements-dev.txt "${editables[@]}"
touch .venv/.installed
