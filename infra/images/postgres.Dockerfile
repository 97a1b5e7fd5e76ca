# PostgreSQL backend store for the tracking server (Debian's postgresql), data on a volume.
ARG BASE_IMAGE=mlops-base:bookworm-py311
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data && chown -R postgres /var/lib/postgresql
COPY infra/images/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
RUN chmod 0755 /usr/local/bin/postgres-entrypoint
USER postgres
EXPOSE 5432
HEALTHCHECK --interval=3s --timeout=3s --retries=5 CMD ["/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1"]
ENTRYPOINT ["postgres-entrypoint"]
