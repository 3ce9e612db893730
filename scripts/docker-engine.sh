#!/usr/bin/env bash
# A Docker engine for Shoal's tests, on a machine without one and without Docker Hub.
# Idempotent; each step is skipped when its result is already there, so a second run is instant:
#   1. Debian's docker.io (dockerd) and debootstrap, installed when missing;
#   2. dockerd on its own socket, started when it does not answer, with no iptables and no
#      bridge (containers use the host's network): nothing a machine without a firewall or
#      bridge module lacks; storage overlay2, or vfs where the kernel has no overlayfs;
#   3. a base image with Debian's Python 3.11 ($SHOAL_BASE_IMAGE), since no registry can give us
#      python:3.11-slim here: a root made once by debootstrap (kept in $ROOTFS), imported with
#      this machine's CA certificates and resolver (see ensure_base_image).
# Prints `export DOCKER_HOST=...` and `export SHOAL_BASE_IMAGE=...` lines on stdout (progress goes
# to stderr), so a caller can `eval "$(scripts/docker-engine.sh)"`.
set -euo pipefail

RUN_DIR=${SHOAL_DOCKER_RUN_DIR:-/run/shoal-docker}
DATA_ROOT=${SHOAL_DOCKER_DATA_ROOT:-/var/lib/shoal-docker}
SOCKET=$RUN_DIR/docker.sock
export DOCKER_HOST=unix://$SOCKET
BASE_IMAGE=${SHOAL_BASE_IMAGE:-shoal-base/python:3.11-bookworm}
ROOTFS=${SHOAL_BASE_ROOTFS:-/var/lib/shoal-docker-rootfs}
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

# Starts dockerd with one storage driver; fails when it does not answer within 60 s.
start_daemon() {
  local storage=$1 pidfile=$RUN_DIR/dockerd.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile" "$SOCKET"  # left by a dockerd that was killed
  fi
  say "starting dockerd ($storage storage) on $SOCKET (log: $RUN_DIR/dockerd.log)"
  setsid dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver="$storage" \
    -H "$DOCKER_HOST" --data-root "$DATA_ROOT" --exec-root "$RUN_DIR/exec" \
    --pidfile "$pidfile" </dev/null >"$RUN_DIR/dockerd.log" 2>&1 &
  local daemon=$!
  for _ in $(seq 1 120); do
    engine_answers && return 0
    kill -0 "$daemon" 2>/dev/null || break  # it gave up (a storage driver it cannot use)
    sleep 0.5
  done
  tail -n 5 "$RUN_DIR/dockerd.log" >&2
  return 1
}

# overlay2 where the kernel has overlayfs (a container's files are a layer, made in a fraction
# of a second); vfs, which copies the whole image per container (seconds each), where it has not.
ensure_daemon() {
  engine_answers && return
  mkdir -p "$RUN_DIR" "$DATA_ROOT"
  local storage=${SHOAL_DOCKER_STORAGE:-}
  if [ -z "$storage" ]; then
    storage=vfs
    grep -qw overlay /proc/filesystems && storage=overlay2
  fi
  start_daemon "$storage" && return
  if [ "$storage" = overlay2 ] && [ -z "${SHOAL_DOCKER_STORAGE:-}" ]; then
    start_daemon vfs && return
  fi
  say "dockerd did not answer on $SOCKET; its log: $RUN_DIR/dockerd.log"
  exit 1
}

# Debian bookworm with python3 in a folder, made once by debootstrap and kept for the next image.
ensure_rootfs() {
  [ -f "$ROOTFS/.complete" ] && return
  say "making a Debian root with python3 in $ROOTFS by debootstrap from $MIRROR (once)"
  rm -rf "$ROOTFS" "$ROOTFS.partial"
  mkdir -p "$(dirname "$ROOTFS")"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$ROOTFS.partial" "$MIRROR" \
    >"$RUN_DIR/debootstrap.log" 2>&1 \
    || { tail -n 30 "$RUN_DIR/debootstrap.log" >&2; exit 1; }
  chroot "$ROOTFS.partial" python3 -c 'import sys, venv; assert sys.version_info[:2] == (3, 11)'
  # Slim it as python:3.11-slim is: no apt lists, caches, docs or man pages.
  rm -rf "$ROOTFS.partial"/var/lib/apt/lists/* "$ROOTFS.partial"/var/cache/apt/* \
    "$ROOTFS.partial"/usr/share/doc/* "$ROOTFS.partial"/usr/share/man/* \
    "$ROOTFS.partial"/usr/share/info/* "$ROOTFS.partial"/usr/share/locale/*
  touch "$ROOTFS.partial/.complete"
  mv "$ROOTFS.partial" "$ROOTFS"
}

# The image is that root plus two things of this machine, and is made again when they change:
# - the certificate authorities it adds to Debian's (/usr/local/share/ca-certificates, e.g. a
#   TLS-intercepting proxy's), so pip in a build trusts the package index as the host does;
# - its /etc/resolv.conf: a build's RUN steps on the host's network (dockerd's classic builder,
#   which the Docker SDK uses) resolve names with the image's own file, not the host's.
ensure_base_image() {
  local certs=(/usr/local/share/ca-certificates/*.crt) digest current
  [ -e "${certs[0]}" ] || certs=()
  digest=$(cat "${certs[@]}" /etc/resolv.conf | sha256sum | cut -c1-16)
  current=$(docker image inspect --format '{{index .Config.Labels "dev.shoal.host-digest"}}' \
    "$BASE_IMAGE" 2>/dev/null || true)
  [ "$current" = "$digest" ] && return
  say "making $BASE_IMAGE from $ROOTFS and this machine's ${#certs[@]} CA certificate(s)"
  rm -f "$ROOTFS"/usr/local/share/ca-certificates/*.crt
  [ ${#certs[@]} -eq 0 ] || cp "${certs[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1
  cp --remove-destination /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  tar --numeric-owner --exclude=./.complete -C "$ROOTFS" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
    --change "LABEL dev.shoal.host-digest=$digest" - "$BASE_IMAGE" >/dev/null
  docker image prune --force >/dev/null  # the image it replaced, and builds on that one
}

ensure_packages
ensure_daemon
ensure_rootfs
ensure_base_image
echo "export DOCKER_HOST=$DOCKER_HOST"
echo "export SHOAL_BASE_IMAGE=$BASE_IMAGE"
