#!/usr/bin/env bash
# A Docker engine for Shoal's tests, on a machine without one and without Docker Hub.
# Idempotent; each step is skipped when its result is already there, so a second run is instant:
#   1. Debian's docker.io (dockerd) and debootstrap, installed when missing;
#   2. dockerd on its own socket ($SHOAL_DOCKER_HOST), started when it does not answer, with
#      no iptables and no bridge (containers use the host's network) and the vfs storage driver,
#      which need no kernel feature a container-in-a-VM may lack;
#   3. a base image with Debian's Python 3.11 ($SHOAL_BASE_IMAGE), made once by debootstrap and
#      `docker import`, since no registry can give us python:3.11-slim here.
# Prints `export DOCKER_HOST=...` and `export SHOAL_BASE_IMAGE=...` lines on stdout (progress goes
# to stderr), so a caller can `eval "$(scripts/docker-engine.sh)"`.
set -euo pipefail

RUN_DIR=${SHOAL_DOCKER_RUN_DIR:-/run/shoal-docker}
DATA_ROOT=${SHOAL_DOCKER_DATA_ROOT:-/var/lib/shoal-docker}
SOCKET=$RUN_DIR/docker.sock
export DOCKER_HOST=unix://$SOCKET
BASE_IMAGE=${SHOAL_BASE_IMAGE:-shoal-base/python:3.11-bookworm}
MIRROR=${SHOAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The Debian packages of the base image: python3 is 3.11 on bookworm; python3-venv for the
# Dockerfile's virtualenv (it brings ensurepip's pip wheel); ca-certificates for pip over TLS.
BASE_PACKAGES=python3,python3-venv,ca-certificates

say() { echo "docker-engine: $*" >&2; }

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]} from Debian's packages"
  apt-get update -qq
  # policy-rc.d 101: the packages' scripts must not try to start a system-wide dockerd.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  [ "$created" -eq 1 ] && rm -f "$policy"
  return 0
}

engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

ensure_daemon() {
  engine_answers && return
  mkdir -p "$RUN_DIR" "$DATA_ROOT"
  local pidfile=$RUN_DIR/dockerd.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile" "$SOCKET"  # left by a dockerd that was killed
  fi
  say "starting dockerd on $SOCKET (log: $RUN_DIR/dockerd.log)"
  setsid dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    -H "$DOCKER_HOST" --data-root "$DATA_ROOT" --exec-root "$RUN_DIR/exec" \
    --pidfile "$pidfile" </dev/null >"$RUN_DIR/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    engine_answers && return
    sleep 0.5
  done
  say "dockerd did not answer on $SOCKET within 60 s; its log:"
  tail -n 30 "$RUN_DIR/dockerd.log" >&2
  exit 1
}

ensure_base_image() {
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return
  say "making $BASE_IMAGE with debootstrap from $MIRROR (once; a few minutes)"
  local root
  root=$(mktemp -d /var/tmp/shoal-base.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$root'" EXIT
  debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$root" "$MIRROR" \
    >"$RUN_DIR/debootstrap.log" 2>&1 \
    || { tail -n 30 "$RUN_DIR/debootstrap.log" >&2; exit 1; }
  # Slim it as python:3.11-slim is: no apt lists, caches, docs or man pages.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
  "$root/usr/bin/python3" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    2>/dev/null || chroot "$root" python3 -c 'import sys; assert sys.version_info[:2] == (3, 11)'
  tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
  trap - EXIT
}

ensure_packages
ensure_daemon
ensure_base_image
echo "export DOCKER_HOST=$DOCKER_HOST"
echo "export SHOAL_BASE_IMAGE=$BASE_IMAGE"
