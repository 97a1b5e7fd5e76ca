#!/bin/sh
# The password arrives as a file (mode 0400, owned by postgres, bound from the provider's secrets
# directory): never an environment variable or an argument. First start initialises the cluster on the
# volume with it; every later start sets the role's password from the file again, so a rotated password
# (a new file) takes effect with the container that carries it.
set -eu
PASSWORD_FILE="${MLOPS_POSTGRES_PASSWORD_FILE:-/run/mlops-secrets/postgres-password}"
[ -r "$PASSWORD_FILE" ] || { echo "postgres password file $PASSWORD_FILE is missing" >&2; exit 1; }
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/postgresql/data/pgdata
LOCAL="-c listen_addresses= -c unix_socket_directories=/tmp"
if [ ! -s "$DATA/PG_VERSION" ]; then
    "$BIN/initdb" -D "$DATA" -U mlflow --pwfile="$PASSWORD_FILE" --auth-host=scram-sha-256 --auth-local=trust
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$DATA/pg_hba.conf"
    "$BIN/pg_ctl" -D "$DATA" -o "$LOCAL" -w start
    "$BIN/createdb" -h /tmp -U mlflow mlflow
else
    "$BIN/pg_ctl" -D "$DATA" -o "$LOCAL" -w start
    # psql reads the file itself (a backquoted `cat`), and :'password' quotes it as a literal.
    "$BIN/psql" -h /tmp -U mlflow -d postgres -v ON_ERROR_STOP=1 -q <<SQL
\set password \`cat "$PASSWORD_FILE"\`
ALTER ROLE mlflow PASSWORD :'password';
SQL
fi
"$BIN/pg_ctl" -D "$DATA" -m fast -w stop
exec "$BIN/postgres" -D "$DATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
