#!/bin/sh
# Credentials come from the environment so they stay out of the image; the htpasswd file lives on tmpfs.
set -eu
: "${MLOPS_REGISTRY_USERNAME:?MLOPS_REGISTRY_USERNAME is required}"
: "${MLOPS_REGISTRY_PASSWORD:?MLOPS_REGISTRY_PASSWORD is required}"
htpasswd -Bbn "$MLOPS_REGISTRY_USERNAME" "$MLOPS_REGISTRY_PASSWORD" > /run/registry/htpasswd
unset MLOPS_REGISTRY_PASSWORD
exec docker-registry serve /etc/docker/registry/config.yml
