#!/bin/sh
# The password arrives as a file (mode 0400, owned by this user, bound from the provider's secrets
# directory): never an environment variable or an argument. The htpasswd file lives on tmpfs.
set -eu
: "${MLOPS_REGISTRY_USERNAME:?MLOPS_REGISTRY_USERNAME is required}"
PASSWORD_FILE="${MLOPS_REGISTRY_PASSWORD_FILE:-/run/mlops-secrets/registry-password}"
[ -r "$PASSWORD_FILE" ] || { echo "registry password file $PASSWORD_FILE is missing" >&2; exit 1; }
htpasswd -iBn "$MLOPS_REGISTRY_USERNAME" < "$PASSWORD_FILE" > /run/registry/htpasswd
exec docker-registry serve /etc/docker/registry/config.yml
