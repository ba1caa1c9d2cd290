#!/bin/sh
# Starts redis-server; with REDIS_PASSWORD set, requires it (AUTH). The
# password goes in through the configuration read from stdin, never on the
# command line (ps, /proc/<pid>/cmdline); without it Redis runs without AUTH,
# as the Kubernetes manifests expect.
set -eu

if [ -n "${REDIS_PASSWORD:-}" ]; then
	# Redis config syntax: a double-quoted string, with \ and " escaped.
	escaped=$(printf '%s' "$REDIS_PASSWORD" | sed 's/[\\"]/\\&/g')
	exec redis-server - "$@" <<CONF
requirepass "$escaped"
CONF
fi
exec redis-server "$@"
