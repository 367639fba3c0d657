# The scoring image: `mlops serve` as a static x86_64-unknown-linux-musl binary on a distroless
# base, running as a non-root user. Two ways to get the model in:
#
#   docker build -t mlops-serve .                                   # mounted at run time
#   docker run -p 5001:5001 -v "$PWD/mlruns/0/<run>/artifacts/model:/model:ro" mlops-serve
#
#   docker build --target baked --build-arg MODEL_DIR=mlruns/0/<run>/artifacts/model -t mlops-diabetes .
#   docker run -p 5001:5001 mlops-diabetes                          # baked in
#
# Request logging is configured at run time with MLOPS_REQUEST_LOG and
# AZURE_STORAGE_CONNECTION_STRING or MLOPS_REQUEST_LOG_SAS (see docs/serve.md).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
# musl-dev: the C runtime that ring's build script links against. Alpine pins it per release.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# `mlops init` embeds templates/ and the repository's own pipeline, sample data, Bicep and CI files.
COPY templates ./templates
COPY data/diabetes.csv data/diabetes.profile.json ./data/
COPY pipelines ./pipelines
COPY environment_setup ./environment_setup
COPY .github/workflows ./.github/workflows
# Symbols stripped: about 7.5 MB instead of 9.3 MB.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked --bin mlops --target x86_64-unknown-linux-musl \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/mlops /out/mlops

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/mlops /usr/local/bin/mlops
USER 65532:65532
ENV MLOPS_MODEL=/model
EXPOSE 5001
# distroless has no shell or curl, so the binary probes itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/mlops", "smoke-test", "--get", "--url", "http://127.0.0.1:5001/ready", "--timeout", "4", "-q"]
ENTRYPOINT ["/usr/local/bin/mlops", "serve", "--host", "0.0.0.0", "--port", "5001"]

# `--target baked`: the same image with a model directory from the build context at /model.
FROM runtime AS baked
ARG MODEL_DIR=model
COPY --chown=65532:65532 ${MODEL_DIR} /model

# The default target: the model is mounted at /model.
FROM runtime
