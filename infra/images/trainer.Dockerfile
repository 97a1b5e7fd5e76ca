# Training jobs: the `ml` package and the shared contract; `docker run IMAGE [train options]`.
# Only these two directories are copied (see server.Dockerfile for why).
ARG DEPS_IMAGE
FROM ${DEPS_IMAGE}
COPY contract /app/contract
COPY ml /app/ml
RUN mkdir -p /work && chown 10001:10001 /work
ENV PYTHONPATH=/app
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["python", "-m", "ml.train"]
