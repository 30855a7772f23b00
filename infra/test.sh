#!/usr/bin/env bash
# The test command: infrastructure up (reusing what runs), migrations, then pytest over tests/.
# Extra arguments go to pytest, e.g. `make test ARGS="tests/foundation -x"`.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash infra/infra.sh
# The tests talk to the broker infra.sh started unless another one was named.
export BACKBEAT_KAFKA_BOOTSTRAP="${BACKBEAT_KAFKA_BOOTSTRAP:-127.0.0.1:${BACKBEAT_KAFKA_PORT:-9092}}"
bash infra/migrate.sh --test
# The browser test drives Debian's Chromium.
command -v chromium >/dev/null || apt_install chromium
mkdir -p test-output
say "running the test suite"
set +e
"$PY" -m pytest "$@"
status=$?
set -e
if [ $status -eq 5 ]; then die "pytest collected no tests"; fi
exit $status
