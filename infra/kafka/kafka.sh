#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft) from its Maven Central artifacts.
#   kafka.sh up     resolve the jars (cached), format the log directory once, start, wait
#   kafka.sh down   stop the broker if this script started it
#   kafka.sh status
source "$(dirname "$0")/../lib.sh"

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/infra/kafka/pom.xml")
HOST=${BACKBEAT_KAFKA_HOST:-127.0.0.1}
PORT=${BACKBEAT_KAFKA_PORT:-9092}
CONTROLLER_PORT=${BACKBEAT_KAFKA_CONTROLLER_PORT:-9093}
HEAP=${BACKBEAT_KAFKA_HEAP:-384m}
LIBS="$BACKBEAT_HOME/kafka-$KAFKA_VERSION/libs"
DATA="$VAR/kafka/data"
CONF="$VAR/kafka/server.properties"
PIDFILE="$VAR/run/kafka.pid"
LOG="$VAR/log/kafka.log"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

ensure_java() {
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p')
  if [ -z "$major" ] || [ "${major%%.*}" -lt 17 ]; then apt_install openjdk-17-jre-headless; fi
  command -v mvn >/dev/null || apt_install maven
}

resolve() {
  [ -f "$LIBS/.complete" ] && return
  ensure_java
  say "resolving Apache Kafka $KAFKA_VERSION and its runtime dependencies with Maven"
  rm -rf "$LIBS"
  mvn -B -Dstyle.color=never -f "$ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >"$VAR/log/kafka-resolve.log" 2>&1 || {
    tail -n 30 "$VAR/log/kafka-resolve.log" >&2
    die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (log: var/log/kafka-resolve.log)"
  }
  touch "$LIBS/.complete"
}

wait_ready() {
  # Ready means the broker answers a metadata request, not merely that the port is open. A
  # broker holding many partitions takes a while to load them: say so while waiting.
  local started=$SECONDS timeout=${BACKBEAT_KAFKA_START_TIMEOUT:-180} note_at=15
  while [ $((SECONDS - started)) -lt "$timeout" ]; do
    if ! running; then
      tail -n 40 "$LOG" >&2 || true
      die "the Kafka broker exited while starting (log above, full log: $LOG)"
    fi
    if "$PY" "$ROOT/infra/kafka/ready.py" "$HOST:$PORT" 2>/dev/null; then return 0; fi
    if [ $((SECONDS - started)) -ge $note_at ]; then
      say "Kafka still starting ($((SECONDS - started)) s; it loads every partition it holds)"
      note_at=$((note_at + 15))
    fi
    sleep 1
  done
  tail -n 40 "$LOG" >&2 || true
  die "the Kafka broker did not answer metadata requests on $HOST:$PORT within ${timeout} s (log: $LOG; BACKBEAT_KAFKA_START_TIMEOUT sets the wait)"
}

up() {
  if running; then
    say "Kafka already running (pid $(cat "$PIDFILE")) on $HOST:$PORT"
    wait_ready
    return
  fi
  if port_open "$PORT"; then
    # Somebody else's broker (a system service, another checkout): use it as it is.
    "$PY" "$ROOT/infra/kafka/ready.py" "$HOST:$PORT" \
      || die "port $PORT on $HOST is taken by something that is not a Kafka broker"
    say "a Kafka broker already answers on $HOST:$PORT: using it"
    return
  fi
  resolve
  ensure_java
  mkdir -p "$DATA" "$(dirname "$CONF")"
  sed -e "s|@HOST@|$HOST|g" -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@DATA@|$DATA|g" "$ROOT/infra/kafka/server.properties.in" > "$CONF"
  local java_opts=(-Xmx"$HEAP" -Xms128m -XX:+UseG1GC -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.properties")
  if [ ! -f "$DATA/meta.properties" ]; then
    say "formatting the KRaft log directory $DATA"
    local cluster_id
    cluster_id=$(java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid | tail -n 1)
    java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$CONF" >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; die "formatting failed"; }
  fi
  say "starting Kafka $KAFKA_VERSION on $HOST:$PORT (heap $HEAP, log $LOG)"
  nohup java "${java_opts[@]}" -cp "$LIBS/*" kafka.Kafka "$CONF" >>"$LOG" 2>&1 &
  echo $! > "$PIDFILE"
  wait_ready
  say "Kafka ready on $HOST:$PORT"
}

down() {
  if running; then
    local pid
    pid=$(cat "$PIDFILE")
    say "stopping Kafka (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$PIDFILE"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) if running; then echo "running (pid $(cat "$PIDFILE"))"; else echo "not running"; exit 1; fi ;;
  resolve) resolve ;;
  *) die "usage: kafka.sh up|down|status|resolve" ;;
esac
