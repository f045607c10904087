# syntax=docker/dockerfile:1
# peakgate's image: built in one stage, run from a small distroless one as a non-root user.
#   docker build -t peakgate:0.1.0 .
#   docker run --rm -v "$PWD/reports:/results" peakgate:0.1.0 run --profile /opt/peakgate/profiles/smoke.toml --out /results
# run.json and every artifact go to /results, a volume (the Kubernetes manifests of
# `peakgate k8s job` mount a shared claim there).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Cargo.toml names the test targets' files, so they come too (they are not built).
COPY Cargo.toml Cargo.lock ./
COPY tests ./tests
COPY src ./src
RUN cargo build --release --locked --bin peakgate \
    && mkdir -p /out/results \
    && cp target/release/peakgate /out/peakgate

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/peakgate /usr/local/bin/peakgate
COPY profiles /opt/peakgate/profiles
COPY scenarios /opt/peakgate/scenarios
# The results folder belongs to the user the image runs as (distroless `nonroot`, 65532).
COPY --from=build --chown=65532:65532 /out/results /results
USER 65532:65532
WORKDIR /results
VOLUME ["/results"]
ENTRYPOINT ["/usr/local/bin/peakgate"]
CMD ["--help"]
