# PostgreSQL for the kubernetes target (Debian's postgresql-15): the same entrypoint as postgres.Dockerfile,
# but the `postgres` user has the fixed uid 999 (created before the package, which then reuses it), so a
# pod's runAsUser names a user that exists - initdb refuses a uid without a passwd entry.
ARG BASE_IMAGE=mlops-base:bookworm-py311
FROM ${BASE_IMAGE}
RUN echo "postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/sh" >> /etc/passwd \
 && echo "postgres:x:999:" >> /etc/group \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data && chown -R 999:999 /var/lib/postgresql
COPY infra/images/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
RUN chmod 0755 /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 999:999
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint"]
