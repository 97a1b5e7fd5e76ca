#!/bin/sh
# The replicas' alias differs per stack; the rendered config goes to tmpfs because the root fs is read-only.
set -eu
: "${MLOPS_UPSTREAM:?MLOPS_UPSTREAM is required}"
sed "s/__UPSTREAM__/${MLOPS_UPSTREAM}/" /etc/nginx/nginx.conf.in > /run/nginx/nginx.conf
exec nginx -c /run/nginx/nginx.conf -g "daemon off;"
