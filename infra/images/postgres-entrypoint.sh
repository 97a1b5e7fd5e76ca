#!/bin/sh
# First start initialises the cluster on the volume with the generated password; later starts reuse it.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/postgresql/data/pgdata
if [ ! -s "$DATA/PG_VERSION" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
    "$BIN/initdb" -D "$DATA" -U mlflow --pwfile=/tmp/pwfile --auth-host=scram-sha-256 --auth-local=trust
    rm -f /tmp/pwfile
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$DATA/pg_hba.conf"
    "$BIN/pg_ctl" -D "$DATA" -o "-c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp" -w start
    "$BIN/createdb" -h 127.0.0.1 -U mlflow mlflow
    "$BIN/pg_ctl" -D "$DATA" -m fast -w stop
fi
unset POSTGRES_PASSWORD
exec "$BIN/postgres" -D "$DATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
