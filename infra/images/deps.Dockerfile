# Every Python dependency of the project, pinned by constraints.txt, in a venv (the base's system
# python is PEP 668 managed). The platform images build FROM this, so a source change never
# reinstalls dependencies.
ARG BASE_IMAGE=mlops-base:bookworm-py311
FROM ${BASE_IMAGE}
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/home/mlops \
    USER=mlops
RUN echo "mlops:x:10001:10001:mlops:/home/mlops:/usr/sbin/nologin" >> /etc/passwd \
 && echo "mlops:x:10001:" >> /etc/group \
 && mkdir -p /home/mlops && chown 10001:10001 /home/mlops \
 && python3 -m venv /opt/venv
COPY infra/images/probe.py /usr/local/bin/mlops-probe
COPY pyproject.toml constraints*.txt /build/
# The CA bundle is a build secret so pip works behind TLS-inspecting proxies without baking it in.
# Pulumi packages are the infrastructure's, not the workloads'.
RUN --mount=type=secret,id=ca \
    chmod 0755 /usr/local/bin/mlops-probe \
 && if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -c "import tomllib; deps = tomllib.load(open('/build/pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('pulumi')))" > /build/requirements.txt \
 && if [ -f /build/constraints.txt ]; then set -- -c /build/constraints.txt; fi \
 && pip install -r /build/requirements.txt "$@"
