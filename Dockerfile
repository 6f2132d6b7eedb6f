# The four tocsin images, one final stage per service:
#
#   docker build --target ingest        -t tocsin-ingest .
#   docker build --target incident-core -t tocsin-incident-core .
#   docker build --target query         -t tocsin-query .        (API + the built dashboard)
#   docker build --target notifier      -t tocsin-notifier .
#   docker build --target backup        -t tocsin-backup .       (the chart's backup CronJob)
#
# `make images` builds all four. One file rather than four: the services share one Cargo workspace,
# so one builder stage compiles the four binaries together (their common dependencies once), and
# each final stage copies only its own binary. With BuildKit (the default builder) a --target
# builds only the stages it needs, and the builder stages are shared between the four builds.
#
# Stages:
#   chef     Rust toolchain + cargo-chef
#   planner  the dependency recipe (Cargo manifests and lock file only, via cargo chef prepare)
#   builder  dependencies from the recipe (a cached layer while no manifest changes), then the
#            four release binaries
#   web      the dashboard: npm ci, npm run build (type check, Vite, size budget)
#   runtime  distroless glibc base, no shell, no package manager, uid 10001
#   ingest, incident-core, query, notifier: runtime + one binary (+ the dashboard for query)
#   azcopy   azcopy built from its Go module (pinned)
#   backup   not a service: Debian slim + pg_dump/pg_restore 17 (PGDG) + azcopy +
#            deploy/backup/backup.sh, for the chart's backup CronJob (docs/operations.md)
#
# The runtime matches the Helm chart (deploy/helm/tocsin): binaries in /usr/local/bin/tocsin-<name>,
# uid/gid 10001, nothing written to the image's filesystem (the chart mounts it read-only), the
# dashboard in /app/web (query.webRoot). scripts/lint-delivery.sh checks these against the chart.

ARG RUST_VERSION=1.95
ARG NODE_VERSION=20
ARG CARGO_CHEF_VERSION=0.1.78
ARG AZCOPY_VERSION=10.27.1
# pg_dump must be at least the server's major version (Azure Flexible Server runs 16: terraform/).
ARG POSTGRES_CLIENT_MAJOR=17

# --- Rust -----------------------------------------------------------------------------------------
# bookworm (Debian 12) for the builder because the runtime is distroless Debian 12: the binaries
# link against the same glibc they run with.
FROM rust:${RUST_VERSION}-bookworm AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# The dependencies of the four services (not of the test and load-generator crates), from the
# recipe only: this layer is rebuilt when Cargo.toml/Cargo.lock change, not when the code does.
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json \
        -p tocsin-ingest -p tocsin-incident-core -p tocsin-query -p tocsin-notifier
COPY . .
RUN cargo build --release --locked \
        -p tocsin-ingest -p tocsin-incident-core -p tocsin-query -p tocsin-notifier \
    && mkdir -p /out \
    && cp target/release/tocsin-ingest target/release/tocsin-incident-core \
          target/release/tocsin-query target/release/tocsin-notifier /out/

# --- dashboard ------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS web
WORKDIR /web
# The lock file alone first, so the npm ci layer is reused while only the sources change.
COPY services/web/package.json services/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY services/web/ ./
RUN npm run build

# --- runtime --------------------------------------------------------------------------------------
# glibc, libgcc, CA certificates and tzdata; no shell, no package manager. The :nonroot variant
# runs as 65532; tocsin's uid is 10001, the chart's runAsUser, so the image says that itself for
# any other runtime. (Distroless publishes no versioned tags: pin a digest,
# gcr.io/distroless/cc-debian12:nonroot@sha256:..., for reproducible builds.)
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.source="https://github.com/tocsin-oncall/tocsin" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="tocsin"
USER 10001:10001
# The services default to 127.0.0.1 (right for `make run`, unreachable in a container); the chart
# sets the same value.
ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080

FROM runtime AS ingest
LABEL org.opencontainers.image.title="tocsin-ingest" \
      org.opencontainers.image.description="tocsin ingest: the Alertmanager webhook (POST /alerts) onto the Redis alerts stream"
COPY --from=builder /out/tocsin-ingest /usr/local/bin/tocsin-ingest
ENTRYPOINT ["/usr/local/bin/tocsin-ingest"]

FROM runtime AS incident-core
LABEL org.opencontainers.image.title="tocsin-incident-core" \
      org.opencontainers.image.description="tocsin incident-core: the only writer of incidents; also runs the database migrations (migrate)"
COPY --from=builder /out/tocsin-incident-core /usr/local/bin/tocsin-incident-core
ENTRYPOINT ["/usr/local/bin/tocsin-incident-core"]

FROM runtime AS notifier
LABEL org.opencontainers.image.title="tocsin-notifier" \
      org.opencontainers.image.description="tocsin notifier: incident events to Slack, Teams, e-mail and GitHub"
COPY --from=builder /out/tocsin-notifier /usr/local/bin/tocsin-notifier
ENTRYPOINT ["/usr/local/bin/tocsin-notifier"]

# --- backup ---------------------------------------------------------------------------------------
# The database backup job (deploy/helm/tocsin/templates/backup-cronjob.yaml). Not a tocsin
# service: a shell script around pg_dump and azcopy, so it needs a shell and its tools, and takes
# Debian slim rather than distroless. azcopy is built from source at a pinned version (its Go
# module) instead of downloading a release archive by URL; bookworm, like the runtime's glibc.
FROM golang:1.23-bookworm AS azcopy
ARG AZCOPY_VERSION
RUN go install "github.com/Azure/azure-storage-azcopy/v10@v${AZCOPY_VERSION}" \
    && cp "$(go env GOPATH)/bin/azure-storage-azcopy" /usr/local/bin/azcopy

FROM debian:bookworm-slim AS backup
ARG POSTGRES_CLIENT_MAJOR
LABEL org.opencontainers.image.source="https://github.com/tocsin-oncall/tocsin" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="tocsin" \
      org.opencontainers.image.title="tocsin-backup" \
      org.opencontainers.image.description="tocsin backup: pg_dump of the database to Azure Blob Storage (docs/operations.md)"
# The PostgreSQL Global Development Group's repository signing key, for postgresql-client-17
# (Debian 12 ships 15, older than the server).
ADD https://www.postgresql.org/media/keys/ACCC4CF8.asc /usr/share/keyrings/pgdg.asc
# ca-certificates first, from Debian: apt needs them to reach the PGDG repository over HTTPS, and
# azcopy to reach Blob Storage and Entra ID. Not pinned to a Debian revision (DL3008): the security
# updates of bookworm and PGDG are wanted; the client's major version is pinned by the package name.
# hadolint ignore=DL3008
RUN chmod 644 /usr/share/keyrings/pgdg.asc \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && echo "deb [signed-by=/usr/share/keyrings/pgdg.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-client-${POSTGRES_CLIENT_MAJOR}" \
    && rm -rf /var/lib/apt/lists/*
# The client's own binaries ahead of Debian's pg_wrapper, so the version is the one installed here.
ENV PATH="/usr/lib/postgresql/${POSTGRES_CLIENT_MAJOR}/bin:${PATH}"
COPY --from=azcopy /usr/local/bin/azcopy /usr/local/bin/azcopy
COPY deploy/backup/backup.sh /usr/local/bin/tocsin-backup
USER 10001:10001
# azcopy's logs and plans, and the dump itself, go to /tmp (the chart mounts an emptyDir there).
ENV HOME=/tmp
ENTRYPOINT ["/usr/local/bin/tocsin-backup"]

# Last, so that a plain `docker build .` gives the image with the dashboard.
FROM runtime AS query
LABEL org.opencontainers.image.title="tocsin-query" \
      org.opencontainers.image.description="tocsin query: the read API, live updates and the dashboard"
COPY --from=builder /out/tocsin-query /usr/local/bin/tocsin-query
COPY --from=web /web/dist /app/web
ENV WEB_ROOT=/app/web
ENTRYPOINT ["/usr/local/bin/tocsin-query"]
