#!/usr/bin/env bash
# ensure-docker: make sure a Docker engine, Compose and the debian:bookworm-slim base image are
# here. On a Debian host run as root it installs Debian's docker.io, docker-compose, mmdebstrap
# and iptables, starts dockerd in the background and builds the base image with mmdebstrap when
# it cannot be pulled. Idempotent; quick when everything is already there.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
BASE_IMAGE=debian:bookworm-slim
PACKAGES=(docker.io docker-compose mmdebstrap iptables)

say() { printf '==> ensure-docker: %s\n' "$*"; }
die() {
  printf 'ensure-docker: %s\n' "$*" >&2
  printf 'Get a Docker engine (Docker Desktop, or the docker.io package and `systemctl start docker`), then rerun.\n' >&2
  printf 'To run only the unit tests without Docker: make test E2E=0 (the end-to-end tier is then skipped).\n' >&2
  exit 1
}
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
engine_answers() { docker info >/dev/null 2>&1; }
compose_answers() { docker compose version >/dev/null 2>&1 || docker-compose version >/dev/null 2>&1; }

# Packages: only what is missing
missing=()
command -v dockerd >/dev/null || engine_answers || missing+=(docker.io)
compose_answers || missing+=(docker-compose)
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then command -v mmdebstrap >/dev/null || missing+=(mmdebstrap); fi
if [ ${#missing[@]} -gt 0 ]; then
  can_install || die "missing ${missing[*]} and cannot install them here (needs root on Debian)."
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" iptables >/dev/null
fi

# The engine
if ! engine_answers; then
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and this user cannot start one."
  command -v dockerd >/dev/null || die "dockerd is not installed."
  say "starting dockerd (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  for _ in $(seq 1 60); do engine_answers && break; sleep 1; done
  engine_answers || { tail -20 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 60 s (its log is above)."; }
fi
say "engine $(docker info --format '{{.ServerVersion}}'), storage $(docker info --format '{{.Driver}}')"
compose_answers || die "neither 'docker compose' nor 'docker-compose' answers."

# The base image every Dockerfile of the example stack starts from
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  if timeout 60 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    say "pulled $BASE_IMAGE"
  else
    can_install || die "cannot pull $BASE_IMAGE and cannot build it here."
    command -v mmdebstrap >/dev/null || die "mmdebstrap is missing."
    say "building $BASE_IMAGE with mmdebstrap (no registry reachable)"
    sources=/etc/apt/sources.list.d/debian.sources
    [ -f "$sources" ] || sources=/etc/apt/sources.list
    mmdebstrap --quiet --variant=minbase bookworm - <"$sources" | docker import - "$BASE_IMAGE" >/dev/null
  fi
fi
say "ready: $BASE_IMAGE present"
