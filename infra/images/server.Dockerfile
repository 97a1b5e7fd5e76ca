# The model server: this repository's `ml` package, configured by the env vars of docs/architecture.md.
ARG DEPS_IMAGE
FROM ${DEPS_IMAGE}
COPY pyproject.toml README.md /src/
COPY ml /src/ml
RUN pip install --no-cache-dir --no-deps --no-build-isolation /src \
 && mkdir -p /var/cache/mlops/models /var/log/mlops && chown -R 10001:10001 /var/cache/mlops /var/log/mlops
ENV MLOPS_HOST=0.0.0.0 MLOPS_PORT=8080 MLOPS_MODEL_CACHE=/var/cache/mlops/models
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["mlops", "serve"]
