# The model server: the `ml` package and the shared contract, configured by the env vars of
# docs/architecture.md. Only these two directories are copied, so the image tag (a hash of exactly what
# goes in) changes with them and with nothing else: a docs or operator-tooling change rolls out nothing.
ARG DEPS_IMAGE
FROM ${DEPS_IMAGE}
COPY contract /app/contract
COPY ml /app/ml
RUN mkdir -p /var/cache/mlops/models /var/log/mlops && chown -R 10001:10001 /var/cache/mlops /var/log/mlops
ENV PYTHONPATH=/app MLOPS_HOST=0.0.0.0 MLOPS_PORT=8080 MLOPS_MODEL_CACHE=/var/cache/mlops/models
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "ml.serve"]
