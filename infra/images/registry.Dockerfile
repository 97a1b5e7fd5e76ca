# The CNCF distribution registry as Debian packages it; htpasswd auth, credentials generated per stack
# and written by the entrypoint from the environment (never baked into the image).
ARG BASE_IMAGE=mlops-base:bookworm-py311
FROM ${BASE_IMAGE}
# /run/registry is a tmpfs of the container. Docker applies the mount's own mode only on the container's
# first start; on every later start (restart policy, dockerd restart) the tmpfs takes the mode of the
# directory underneath, so the image creates it 1777, like /tmp, or the restarted registry cannot write.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry apache2-utils \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/docker-registry /run/registry \
 && chmod 1777 /run/registry \
 && chown docker-registry /var/lib/docker-registry
COPY infra/images/probe.py /usr/local/bin/mlops-probe
COPY infra/images/registry-config.yml /etc/docker/registry/config.yml
COPY infra/images/registry-entrypoint.sh /usr/local/bin/registry-entrypoint
RUN chmod 0755 /usr/local/bin/mlops-probe /usr/local/bin/registry-entrypoint
USER docker-registry
EXPOSE 5000
HEALTHCHECK --interval=3s --timeout=3s --retries=3 CMD ["mlops-probe", "http://127.0.0.1:5000/v2/", "200", "401"]
ENTRYPOINT ["registry-entrypoint"]
