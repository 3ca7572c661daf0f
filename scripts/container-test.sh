#!/usr/bin/env bash
# Builds the Action's image from the repository's Dockerfile for tests/it/container.rs, as a release would: the
# prebuilt dagship binary (here the dev build) copied in, dbt-duckdb as the adapter, base images passed as build
# arguments. Usage:
#   scripts/container-test.sh start > env; source env   -> exports DOCKER_HOST (when it started an engine),
#                                                          DAGSHIP_TEST_IMAGE, DAGSHIP_TEST_CONTAINER_CACHE, ...
#   scripts/container-test.sh stop                       -> stops the engine it started
# Docker: the one DOCKER_HOST (or the default socket) answers on; else, as root, the Debian packages docker.io and
# debootstrap are installed and a dockerd is started with its state under $DAGSHIP_TOOLS_DIR/docker (overlay2,
# no bridge: containers run with --network host). No registry needed: the base image is a Debian bookworm root
# filesystem made by debootstrap and `docker import`ed, cached as a tarball. Where debootstrap is missing (GitHub's
# runners), the Dockerfile's default base image is pulled instead.
# Without a usable Docker the script fails: the container tests never skip.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools=${DAGSHIP_TOOLS_DIR:-$here/target/test-tools}
state="$tools/docker"
image=dagship-test:local
base_image=dagship-test-base:bookworm
adapter=dbt-duckdb
adapter_version=1.11.1

log() { echo "container-test: $*" >&2; }
fail() { echo "container-test: error: $*" >&2; exit 1; }

docker_answers() { timeout 20 docker info >/dev/null 2>&1; }

install_packages() {
  [ "$(id -u)" = 0 ] || fail "no Docker engine answers and this user cannot install one: install Docker (docker.io)" \
    "and debootstrap, or set DOCKER_HOST to a running engine"
  command -v apt-get >/dev/null || fail "no Docker engine answers and apt-get is missing: install Docker, or set DOCKER_HOST"
  log "installing docker.io and debootstrap (Debian packages)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >&2
}

start_engine() {
  mkdir -p "$state/data" "$state/exec"
  export DOCKER_HOST="unix://$state/docker.sock"
  if docker_answers; then
    return 0
  fi
  log "starting dockerd (state in $state)"
  dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
    --data-root "$state/data" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
    --host "$DOCKER_HOST" >"$state/dockerd.log" 2>&1 &
  for _ in $(seq 1 100); do
    if docker_answers; then
      echo started >"$state/started-by-us"
      return 0
    fi
    sleep 0.2
  done
  cat "$state/dockerd.log" >&2
  fail "dockerd did not start (its log is above)"
}

# The docker client that builds with BuildKit: `docker` with buildx, else Debian's 20.10 client, which has
# BuildKit built in.
build_client() {
  if docker buildx version >/dev/null 2>&1; then
    echo docker
  elif [ -x /usr/bin/docker ]; then
    echo /usr/bin/docker
  else
    fail "no docker client with BuildKit (docker buildx, or Debian's docker.io)"
  fi
}

local_base_image() {
  if docker image inspect "$base_image" >/dev/null 2>&1; then
    return 0
  fi
  local tarball="$tools/container/base-bookworm.tar"
  if [ ! -s "$tarball" ]; then
    log "making a Debian bookworm root filesystem with debootstrap (about a minute, once)"
    local rootfs="$tools/container/rootfs"
    rm -rf "$rootfs" && mkdir -p "$rootfs"
    debootstrap --variant=minbase --include=ca-certificates,git,python3,python3-venv bookworm "$rootfs" \
      >"$tools/container/debootstrap.log" 2>&1 || { tail -20 "$tools/container/debootstrap.log" >&2; fail "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
  fi
  docker import "$tarball" "$base_image" >/dev/null
}

ca_bundle() {
  local cert
  cert=$(python3 -m pip config list 2>/dev/null | sed -n "s/^global.cert='\(.*\)'$/\1/p" | head -n1)
  [ -n "$cert" ] || cert=${PIP_CERT:-}
  [ -n "$cert" ] && [ -s "$cert" ] && echo "$cert"
  return 0
}

start() {
  mkdir -p "$tools/container"
  if ! docker_answers; then
    if [ -z "${DOCKER_HOST:-}" ] && ! command -v dockerd >/dev/null; then
      install_packages
    fi
    command -v dockerd >/dev/null || fail "no Docker engine answers at ${DOCKER_HOST:-the default socket}"
    start_engine
  fi
  local base_args=()
  if command -v debootstrap >/dev/null || [ "$(id -u)" = 0 ]; then
    command -v debootstrap >/dev/null || install_packages
    local_base_image
    base_args=(--build-arg "BASE_IMAGE=$base_image")
  else
    log "debootstrap is missing: building on the Dockerfile's default base image (from its registry)"
  fi

  local arch
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *) fail "unsupported machine $(uname -m)" ;;
  esac
  log "building the dagship binary (dev profile) and the image $image"
  cargo build --quiet --bin dagship >&2
  local target_dir
  target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  mkdir -p "$here/dist/linux-$arch"
  cp "$target_dir/debug/dagship" "$here/dist/linux-$arch/dagship"
  strip "$here/dist/linux-$arch/dagship" 2>/dev/null || true

  local secret_args=() cert
  cert=$(ca_bundle)
  if [ -n "$cert" ]; then
    secret_args=(--secret "id=pip_cert,src=$cert")
  fi
  local started=$SECONDS
  DOCKER_BUILDKIT=1 "$(build_client)" build --quiet --network host "${secret_args[@]}" "${base_args[@]}" \
    --build-arg DAGSHIP_BINARY=prebuilt --build-arg "DBT_ADAPTER=$adapter" \
    --build-arg "DBT_ADAPTER_VERSION=$adapter_version" --tag "$image" "$here" >&2
  log "image $image built in $((SECONDS - started))s, $(docker image inspect "$image" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"

  [ -n "${DOCKER_HOST:-}" ] && echo "export DOCKER_HOST=$DOCKER_HOST"
  echo "export DAGSHIP_TEST_IMAGE=$image"
  echo "export DAGSHIP_TEST_CONTAINER_CACHE=$tools/container/cache"
  [ -n "$cert" ] && echo "export DAGSHIP_TEST_CA_BUNDLE=$cert"
  return 0
}

stop() {
  if [ -e "$state/started-by-us" ] && [ -e "$state/dockerd.pid" ]; then
    local pid
    pid=$(cat "$state/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    # dockerd stops its containerd and unmounts its layers before it exits: wait for that (10 s at most).
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    # The network namespace dockerd bind-mounts stays mounted after it exits; it would keep target/ from being
    # removed.
    umount "$state/exec/netns/default" 2>/dev/null || true
    rm -f "$state/started-by-us"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
