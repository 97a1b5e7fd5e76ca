# Training jobs: the `ml` package and the shared contract; `docker run IMAGE [train options]`.
# Only these two directories are copied (see server.Dockerfile for why).
ARG DEPS_IMAGE
FROM ${DEPS_IMAGE}
COPY contract /app/contract
COPY ml /app/ml
RUN mkdir -p /work && chown 10001:10001 /work
# No git in the image (the operator records the checkout's commit): without this, MLflow's import of
# GitPython prints GitPython's set-up help into the job's log at every run it starts.
ENV PYTHONPATH=/app GIT_PYTHON_REFRESH=quiet
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["python", "-m", "ml.train"]
