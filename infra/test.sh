#!/usr/bin/env bash
# The test command: infrastructure up (reusing what runs), migrations, then pytest over tests/.
# Extra arguments go to pytest, e.g. `make test ARGS="tests/foundation -x"`.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash infra/infra.sh
bash infra/migrate.sh --test
mkdir -p test-output
say "running the test suite"
set +e
"$PY" -m pytest "$@"
status=$?
set -e
if [ $status -eq 5 ]; then die "pytest collected no tests"; fi
exit $status
