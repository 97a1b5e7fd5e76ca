# The MLflow tracking server: `mlflow server` behind a wrapper that reads the store's secrets from files.
# The command (stores, host checks) is set by the TrackingServer component.
ARG DEPS_IMAGE
FROM ${DEPS_IMAGE}
# What the tracking server needs beyond the shared dependencies: the Postgres driver, and Flask-WTF for
# MLflow's basic-auth app (mlflow's `auth` extra, pinned here because nothing else uses it).
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && pip install --no-cache-dir psycopg2-binary==2.9.13 flask-wtf==1.3.0 wtforms==3.3.2
# /run/mlops-auth: where the wrapper writes basic_auth.ini into a 0700 directory of its own (a tmpfs is mounted
# there). It exists in the image with mode 1777, as /tmp does, because docker mounts a tmpfs owned by root with
# the mode of the directory beneath it when a container restarts.
RUN mkdir -p /data /artifacts /run/mlops-auth && chown 10001:10001 /data /artifacts \
 && chmod 1777 /run/mlops-auth
# MLflow's job execution (GenAI scorers, prompt optimisation) starts five Huey consumers, about 1.2 GB;
# nothing on this platform submits jobs (ml.tracking.TRACKING_SERVER_ENV says the same for local servers).
ENV MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
# The wrapper reads the backend store URI (or the database password) and the admin password from files:
# never on argv or env; it writes MLflow's basic_auth.ini into a private directory on a tmpfs.
COPY infra/images/tracking-server.py /usr/local/bin/mlops-tracking-server
RUN chmod 0755 /usr/local/bin/mlops-tracking-server
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["mlops-probe", "http://127.0.0.1:5000/health"]
ENTRYPOINT ["mlops-tracking-server"]
