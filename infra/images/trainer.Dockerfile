# Training jobs: this repository's `ml` package; `docker run IMAGE [train options]`.
ARG DEPS_IMAGE
FROM ${DEPS_IMAGE}
COPY pyproject.toml README.md /src/
COPY ml /src/ml
RUN pip install --no-cache-dir --no-deps --no-build-isolation /src && mkdir -p /work && chown 10001:10001 /work
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["mlops", "train"]
