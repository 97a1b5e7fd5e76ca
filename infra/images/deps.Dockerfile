# Every Python dependency of the project, pinned by constraints.txt, in a venv (the base's system
# python is PEP 668 managed). The platform images build FROM this, so a source change never
# reinstalls dependencies; the build backend is here too, so installing the package needs no index.
ARG BASE_IMAGE=mlops-base:bookworm-py311
FROM ${BASE_IMAGE}
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/mlops \
    USER=mlops
RUN echo "mlops:x:10001:10001:mlops:/home/mlops:/usr/sbin/nologin" >> /etc/passwd \
 && echo "mlops:x:10001:" >> /etc/group \
 && mkdir -p /home/mlops && chown 10001:10001 /home/mlops \
 && python3 -m venv /opt/venv
COPY pyproject.toml constraints*.txt /build/
# The CA bundle is a build secret so pip works behind TLS-inspecting proxies without baking it in.
# Pulumi packages are the infrastructure's, not the workloads'. The pip cache is a BuildKit cache
# mount: a dependency change downloads only what changed, and no cache lands in the image.
RUN --mount=type=secret,id=ca --mount=type=cache,target=/var/cache/pip-build \
    export PIP_CACHE_DIR=/var/cache/pip-build \
 && if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -c "import tomllib; p = tomllib.load(open('/build/pyproject.toml', 'rb')); deps = p['build-system']['requires'] + p['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('pulumi')))" > /build/requirements.txt \
 && if [ -f /build/constraints.txt ]; then set -- -c /build/constraints.txt; fi \
 && pip install -r /build/requirements.txt "$@"
COPY infra/images/probe.py /usr/local/bin/mlops-probe
RUN chmod 0755 /usr/local/bin/mlops-probe
