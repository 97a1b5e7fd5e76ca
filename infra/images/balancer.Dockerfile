# One loopback endpoint in front of N model-server replicas (Debian's nginx).
ARG BASE_IMAGE=mlops-base:bookworm-py311
FROM ${BASE_IMAGE}
# /run/nginx is a tmpfs of the container; see registry.Dockerfile for why the image still creates it 1777.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
 && mkdir -p /run/nginx && chmod 1777 /run/nginx \
 && chown -R www-data /var/lib/nginx /var/log/nginx
COPY infra/images/probe.py /usr/local/bin/mlops-probe
COPY infra/images/balancer.conf /etc/nginx/nginx.conf.in
COPY infra/images/balancer-entrypoint.sh /usr/local/bin/balancer-entrypoint
RUN chmod 0755 /usr/local/bin/mlops-probe /usr/local/bin/balancer-entrypoint
USER www-data
EXPOSE 8080
HEALTHCHECK --interval=3s --timeout=3s --retries=3 CMD ["mlops-probe", "http://127.0.0.1:8080/_balancer/health"]
ENTRYPOINT ["balancer-entrypoint"]
