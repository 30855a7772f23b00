#!/usr/bin/env bash
# Brings up what the stack and the tests need: the Python environment, PostgreSQL and Kafka.
# A service given from outside is used as it is and nothing is started for it:
#   BACKBEAT_KAFKA_BOOTSTRAP                 an existing Kafka cluster
#   BACKBEAT_EXTERNAL_POSTGRES=1             the database URLs point at an existing PostgreSQL
#                                            (BACKBEAT_<SERVICE>_DATABASE_URL for the stack,
#                                            BACKBEAT_TEST_<SERVICE>_DATABASE_URL for the tests)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

started=$SECONDS
[ -f .venv/.installed ] && [ -z "$(find constraints.txt requirements-dev.txt libs/*/pyproject.toml services/*/pyproject.toml -newer .venv/.installed 2>/dev/null)" ] \
  || bash infra/python.sh

if [ "${BACKBEAT_EXTERNAL_POSTGRES:-0}" = 1 ]; then
  say "BACKBEAT_EXTERNAL_POSTGRES=1: using the PostgreSQL the database URLs name"
else
  bash infra/postgres/up.sh
fi

if [ -n "${BACKBEAT_KAFKA_BOOTSTRAP:-}" ]; then
  say "BACKBEAT_KAFKA_BOOTSTRAP=$BACKBEAT_KAFKA_BOOTSTRAP: using that Kafka cluster"
  "$PY" infra/kafka/ready.py "$BACKBEAT_KAFKA_BOOTSTRAP" \
    || die "no Kafka broker answers at BACKBEAT_KAFKA_BOOTSTRAP=$BACKBEAT_KAFKA_BOOTSTRAP"
else
  bash infra/kafka/kafka.sh up
fi
say "infrastructure ready in $((SECONDS - started)) s"
