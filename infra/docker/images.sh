#!/usr/bin/env bash
# The base images docker-compose.yml and the testcontainers suites run on. The official images
# are the defaults (python:3.11-slim, apache/kafka, postgres), named by variables:
#   BACKBEAT_PYTHON_IMAGE  BACKBEAT_KAFKA_IMAGE  BACKBEAT_POSTGRES_IMAGE
# A variable that is set is used as it is. Otherwise the official image is used if it is here
# or can be pulled; where no image registry is reachable, a small local equivalent honouring
# the same environment contract is built once from Debian's packages (and, for Kafka, the
# jars infra/kafka/kafka.sh resolves with Maven) under the backbeat-local/ names.
#   source infra/docker/images.sh; choose_images   exports the three variables
#   bash infra/docker/images.sh                    prints them
# Packages are fetched from the mirrors this machine is configured with (/etc/apt, pip's
# configuration, Maven's settings); builds use the host's network for that only.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

OFFICIAL_PYTHON=python:3.11-slim
OFFICIAL_KAFKA=apache/kafka:4.4.0
OFFICIAL_POSTGRES=postgres:15
LOCAL_DEBIAN=backbeat-local/debian:bookworm
LOCAL_PYTHON=backbeat-local/python:3.11
LOCAL_KAFKA=backbeat-local/kafka:4.4.0
LOCAL_POSTGRES=backbeat-local/postgres:15
LOCAL_DIR="$ROOT/infra/docker/local"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# The Debian mirror apt uses on this machine (first bookworm "deb" source).
apt_mirror() {
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  local f
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    case "$f" in
      *.sources)
        awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm( |\n|$)/ && /Types:[^\n]*deb( |\n|$)/ {
               if (match($0, /URIs: *[^ \n]+/)) { s=substr($0, RSTART, RLENGTH); sub(/URIs: */, "", s); print s; exit } }' "$f" ;;
      *) awk '$1=="deb" && $0 ~ / bookworm / { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f" ;;
    esac
  done | head -n 1
}

build_debian_base() {
  have_image "$LOCAL_DEBIAN" && return
  command -v debootstrap >/dev/null || apt_install debootstrap
  local mirror rootfs
  mirror=$(apt_mirror)
  [ -n "$mirror" ] || die "no Debian bookworm source found in /etc/apt to build the base image from"
  rootfs=$(mktemp -d)
  say "building $LOCAL_DEBIAN with debootstrap (minbase, about 30 s)"
  as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$VAR/log/debootstrap.log" 2>&1 || {
    tail -n 20 "$VAR/log/debootstrap.log" >&2
    as_root rm -rf "$rootfs"
    die "debootstrap failed (log: var/log/debootstrap.log)"
  }
  # The image's apt uses the same sources as this machine (Debian's, security updates
  # included), and trusts what this machine trusts for TLS (pip inside the builds).
  local host
  host=$(printf '%s' "$mirror" | sed -E 's|^[a-z]+://([^/]+).*|\1|')
  as_root rm -f "$rootfs/etc/apt/sources.list"
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q "$host" "$f" && as_root cp "$f" "$rootfs${f}"
  done
  # As a local authority too, so that Debian's ca-certificates, when an image installs it,
  # keeps it in the bundle it regenerates.
  as_root mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/local/share/ca-certificates"
  as_root cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  as_root cp /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/local/share/ca-certificates/host-bundle.crt"
  # Slim, like Debian's own -slim images: no documentation, manual pages or translations,
  # neither now nor from the packages the images built on it install.
  as_root tee "$rootfs/etc/dpkg/dpkg.cfg.d/slim" >/dev/null <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
  as_root find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  as_root rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  as_root tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$LOCAL_DEBIAN" >/dev/null
  as_root rm -rf "$rootfs"
}

build_local() { # image dockerfile context
  have_image "$1" && return
  build_debian_base
  say "building $1 from Debian's packages"
  docker build -q --force-rm --network host --build-arg "BASE_IMAGE=$LOCAL_DEBIAN" -t "$1" -f "$2" "$3" \
    >"$VAR/log/image-build.log" 2>&1 || {
    tail -n 30 "$VAR/log/image-build.log" >&2
    die "building $1 failed (log: var/log/image-build.log)"
  }
}

build_local_kafka() {
  have_image "$LOCAL_KAFKA" && return
  bash "$ROOT/infra/kafka/kafka.sh" resolve
  local version context libs
  version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/infra/kafka/pom.xml")
  libs="$BACKBEAT_HOME/kafka-$version/libs"
  context=$(mktemp -d)
  cp -r "$libs" "$context/libs"
  # The health-check command lives in kafka-tools, which the broker itself does not need.
  mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="org.apache.kafka:kafka-tools:$version" \
    -DoutputDirectory="$context/libs" >"$VAR/log/kafka-tools-resolve.log" 2>&1 \
    || die "Maven could not resolve org.apache.kafka:kafka-tools:$version (log: var/log/kafka-tools-resolve.log)"
  cp "$LOCAL_DIR"/kafka-entrypoint.sh "$LOCAL_DIR"/kafka-broker-api-versions.sh "$context/"
  cp "$ROOT/infra/kafka/log4j2.properties" "$context/"
  build_local "$LOCAL_KAFKA" "$LOCAL_DIR/kafka.Dockerfile" "$context"
  rm -rf "$context"
}

# official-name local-name builder
pick() {
  if have_image "$1"; then echo "$1"; return; fi
  if [ "${BACKBEAT_DOCKER_PULL:-1}" = 1 ] && timeout 300 docker pull -q "$1" >/dev/null 2>&1; then
    echo "$1"
    return
  fi
  "$3" >&2
  echo "$2"
}

local_python() { build_local "$LOCAL_PYTHON" "$LOCAL_DIR/python.Dockerfile" "$LOCAL_DIR"; }
local_postgres() { build_local "$LOCAL_POSTGRES" "$LOCAL_DIR/postgres.Dockerfile" "$LOCAL_DIR"; }

choose_images() {
  BACKBEAT_PYTHON_IMAGE=${BACKBEAT_PYTHON_IMAGE:-$(pick "$OFFICIAL_PYTHON" "$LOCAL_PYTHON" local_python)}
  BACKBEAT_POSTGRES_IMAGE=${BACKBEAT_POSTGRES_IMAGE:-$(pick "$OFFICIAL_POSTGRES" "$LOCAL_POSTGRES" local_postgres)}
  BACKBEAT_KAFKA_IMAGE=${BACKBEAT_KAFKA_IMAGE:-$(pick "$OFFICIAL_KAFKA" "$LOCAL_KAFKA" build_local_kafka)}
  export BACKBEAT_PYTHON_IMAGE BACKBEAT_POSTGRES_IMAGE BACKBEAT_KAFKA_IMAGE
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  choose_images
  printf 'BACKBEAT_PYTHON_IMAGE=%s\nBACKBEAT_POSTGRES_IMAGE=%s\nBACKBEAT_KAFKA_IMAGE=%s\n' \
    "$BACKBEAT_PYTHON_IMAGE" "$BACKBEAT_POSTGRES_IMAGE" "$BACKBEAT_KAFKA_IMAGE"
fi
