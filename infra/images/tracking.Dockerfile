# The MLflow tracking server: `mlflow server` behind a wrapper that reads the store's secrets from files.
# The command (stores, host checks) is set by the TrackingServer component.
ARG DEPS_IMAGE
FROM ${DEPS_IMAGE}
# The Postgres driver is the only thing the tracking server needs beyond the shared dependencies.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && pip install --no-cache-dir psycopg2-binary==2.9.13
RUN mkdir -p /data /artifacts && chown 10001:10001 /data /artifacts
# MLflow's job execution (GenAI scorers, prompt optimisation) starts five Huey consumers, about 1.2 GB;
# nothing on this platform submits jobs (ml.tracking.TRACKING_SERVER_ENV says the same for local servers).
ENV MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
# The wrapper reads the backend store URI (or the database password) from a file: never on argv or env.
COPY infra/images/tracking-server.py /usr/local/bin/mlops-tracking-server
RUN chmod 0755 /usr/local/bin/mlops-tracking-server
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["mlops-probe", "http://127.0.0.1:5000/health"]
ENTRYPOINT ["mlops-tracking-server"]
