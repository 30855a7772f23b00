#!/bin/bash
# Writes the broker's settings from the KAFKA_* variables as the official image does
# (KAFKA_FOO_BAR -> foo.bar; "___" stands for "-" and "__" for "_"), formats the log directory
# on first start (CLUSTER_ID, or the official image's default) and runs the broker.
set -euo pipefail
conf=/opt/kafka/config/server.properties
: >"$conf"
while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_LOG4J_OPTS | KAFKA_GC_LOG_OPTS) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  key=${name#KAFKA_}
  key=${key//___/-}
  key=${key//__/@}
  key=${key//_/.}
  key=${key//@/_}
  printf '%s=%s\n' "${key,,}" "$value" >>"$conf"
done < <(env)
grep -q '^log.dirs=' "$conf" || echo "log.dirs=/var/lib/kafka/data" >>"$conf"
log_dir=$(sed -n 's/^log.dirs=//p' "$conf" | cut -d, -f1)
java_opts=(${KAFKA_HEAP_OPTS:--Xmx1g -Xms1g} -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties ${KAFKA_OPTS:-})
if [ ! -f "$log_dir/meta.properties" ]; then
  java "${java_opts[@]}" -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format \
    -t "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$conf" --ignore-formatted
fi
exec java "${java_opts[@]}" -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
