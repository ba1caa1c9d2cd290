#!/bin/bash
# Entrypoint: on an empty data directory run initdb, create POSTGRES_USER
# (superuser, password auth for network clients) and POSTGRES_DB, then exec
# the server in the foreground as the postgres user.
set -Eeuo pipefail

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

# Allow `docker run image -c foo=bar` like the official image.
if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
	exec "$@"
fi

# As root: fix ownership of the volume and socket dir, then drop privileges.
if [ "$(id -u)" = '0' ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 2775 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo 'error: database is uninitialized and POSTGRES_PASSWORD is not set' >&2
		exit 1
	fi
	echo "entrypoint: initialising database cluster in $PGDATA"
	pwfile="$(mktemp)"
	printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
	initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
		-E UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"

	{
		echo
		echo '# added by docker-entrypoint.sh: password auth from anywhere'
		echo 'host all all all scram-sha-256'
	} >> "$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"

	# Temporary server on the unix socket only, to create the database.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	if [ "$POSTGRES_DB" != 'postgres' ]; then
		psql -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" -d postgres --set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "entrypoint: created role '$POSTGRES_USER' and database '$POSTGRES_DB'"
fi

exec "$@"
