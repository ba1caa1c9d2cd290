#!/usr/bin/env bash
# ensure-docker: make sure a Docker engine, both Compose CLIs and the debian:bookworm-slim base
# image are here. On a Debian host run as root it installs Debian's docker.io, docker-compose
# (v1), mmdebstrap and iptables, adds the Compose v2 CLI plugin from Debian trixie's
# docker-compose package (pinned: nothing else ever comes from trixie), starts dockerd in the
# background and builds the base image with mmdebstrap when it cannot be pulled. Idempotent;
# quick when everything is already there.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
BASE_IMAGE=debian:bookworm-slim
PACKAGES=(docker.io docker-compose mmdebstrap iptables)

say() { printf '==> ensure-docker: %s\n' "$*"; }
die() {
  printf 'ensure-docker: %s\n' "$*" >&2
  printf 'Get a Docker engine (Docker Desktop, or the docker.io package and `systemctl start docker`), then rerun.\n' >&2
  printf 'To run only the tests that need no Docker: make typecheck unit.\n' >&2
  exit 1
}
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
engine_answers() { docker info >/dev/null 2>&1; }
compose_answers() { docker compose version >/dev/null 2>&1 || docker-compose version >/dev/null 2>&1; }
v2_answers() { docker compose version >/dev/null 2>&1; }
PLUGIN=/usr/libexec/docker/cli-plugins/docker-compose

# Compose v2 on bookworm: trixie's docker-compose package is the v2 CLI plugin and needs only
# libc6 >= 2.34. Installing it would replace v1 (same package name), so it is downloaded and
# only the plugin is unpacked. The trixie source uses the mirror bookworm already uses, and a
# pin of -1 keeps apt from ever installing anything from it.
install_compose_v2() {
  local uri dir
  uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  [ -n "$uri" ] || { say "no bookworm source found to derive a trixie source from; Compose v2 not installed"; return 1; }
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
    >/etc/apt/sources.list.d/trixie-compose.sources
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: -1\n' >/etc/apt/preferences.d/trixie-compose
  apt-get update -qq
  dir=$(mktemp -d)
  (cd "$dir" && apt-get download -qq docker-compose/trixie 2>/dev/null && dpkg-deb -x docker-compose_*.deb x) || { rm -rf "$dir"; return 1; }
  install -D -m 0755 "$dir/x$PLUGIN" "$PLUGIN"
  rm -rf "$dir"
}

# Quick when everything is here (every make reset-and-test passes through): the engine answers, and
# this checkout saw both Compose CLIs and the base image with this very engine before (.state/engine).
STAMP=.state/engine
if version=$(docker info --format '{{.ServerVersion}} {{.ID}}' 2>/dev/null); then
  # An absent base image is an empty id (under set -e a failing substitution would end the script, silently).
  version="$version $(docker image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)"
  if [ "$(cat "$STAMP" 2>/dev/null)" = "$version" ]; then say "ready: engine ${version%% *}"; exit 0; fi
  if v2_answers && command -v docker-compose >/dev/null && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    mkdir -p .state && echo "$version" >"$STAMP"
    say "ready: engine ${version%% *}, Compose v2 and v1, $BASE_IMAGE present"
    exit 0
  fi
fi

# Packages: only what is missing
missing=()
command -v dockerd >/dev/null || engine_answers || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)  # v1: the second e2e pass runs on it
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
  # In a session of its own: a test that restarts the engine, or a Ctrl-C of the caller, must not take it down.
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do engine_answers && break; sleep 1; done
  engine_answers || { tail -20 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 60 s (its log is above)."; }
fi
say "engine $(docker info --format '{{.ServerVersion}}'), storage $(docker info --format '{{.Driver}}')"
if ! v2_answers && can_install; then
  say "installing the Compose v2 plugin from Debian trixie's docker-compose package"
  install_compose_v2 || say "could not install Compose v2; continuing with what is here"
fi
compose_answers || die "neither 'docker compose' nor 'docker-compose' answers."
say "compose: v2 $(docker compose version --short 2>/dev/null || echo 'missing'), v1 $(docker-compose version --short 2>/dev/null || echo 'missing')"

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
