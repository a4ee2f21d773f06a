# syntax=docker/dockerfile:1
# Baton in a container: the binary built as the README builds it (`make run` runs the same
# `cargo build --release --locked -p baton`), on a base with only glibc, CA roots and a
# non-root user. See docs/OPERATIONS.md ("Containers").

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The web app's build (web/dist) is committed and embedded into the binary: no Node needed.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p baton \
    && install -D -m 0755 target/release/baton /out/baton \
    && install -d -o 65532 -g 65532 -m 0700 /out/data

# glibc, libgcc, CA certificates and a `nonroot` user (65532); no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/baton /usr/local/bin/baton
# The data folder exists, the user's own, so that a new volume mounted on it is too.
COPY --from=build --chown=65532:65532 /out/data /var/lib/baton
ENV BATON_DATA_DIR=/var/lib/baton \
    BATON_ADDR=0.0.0.0:8080 \
    BATON_LOG_FORMAT=json
VOLUME ["/var/lib/baton"]
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/baton", "probe", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/baton"]
CMD ["serve"]
