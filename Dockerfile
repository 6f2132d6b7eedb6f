# The four tocsin images, one final stage per service:
#
#   docker build --target ingest        -t tocsin-ingest .
#   docker build --target incident-core -t tocsin-incident-core .
#   docker build --target query         -t tocsin-query .        (API + the built dashboard)
#   docker build --target notifier      -t tocsin-notifier .
#   docker build --target backup        -t tocsin-backup .       (the chart's backup CronJob)
#
# `make images` builds all five. One file rather than five: the services share one Cargo workspace,
# so one builder stage compiles the four binaries together (their common dependencies once), and
# each final stage copies only its own binary. With BuildKit (the default builder) a --target
# builds only the stages it needs, and the builder stages are shared between the builds.
#
# Stages:
#   chef     Rust toolchain + cargo-chef
#   planner  the dependency recipe (Cargo manifests and lock file only, via cargo chef prepare)
#   builder  dependencies from the recipe (a cached layer while no manifest changes), then the
#            four release binaries
#   web      the dashboard: npm ci, npm run build (type check, Vite, size budget)
#   azcopy   azcopy built from its Go module (pinned)
#   binaries, dashboard, azcopy-binary
#            what the final stages copy: from the three stages above (ARTIFACTS=source, the
#            default), or from the build context named `prebuilt` (ARTIFACTS=prebuilt, below)
#   runtime  distroless glibc base, no shell, no package manager, uid 10001
#   ingest, incident-core, query, notifier: runtime + one binary (+ the dashboard for query)
#   backup   not a service: Debian slim + pg_dump/pg_restore 17 (PGDG) + azcopy +
#            deploy/backup/backup.sh, for the chart's backup CronJob (docs/operations.md)
#
# The runtime matches the Helm chart (deploy/helm/tocsin): binaries in /usr/local/bin/tocsin-<name>,
# uid/gid 10001, nothing written to the image's filesystem (the chart mounts it read-only), the
# dashboard in /app/web (query.webRoot). scripts/lint-delivery.sh checks these against the chart.
#
# Build arguments. The defaults are what CI and releases build; scripts/test-images.sh overrides
# them to build and run the images on a machine that reaches no image registry and has no time to
# compile Rust inside a container (docs/testing.md, "The images"):
#   RUST_IMAGE, NODE_IMAGE, GO_IMAGE, RUNTIME_IMAGE, BACKUP_BASE_IMAGE   the base images
#   ARTIFACTS=prebuilt   take the four binaries, the dashboard and azcopy from a second build
#            context, `--build-context prebuilt=DIR` (DIR/tocsin-<service>, DIR/web/, DIR/azcopy),
#            instead of compiling them: binaries built on a Debian 12 host (the runtime's glibc)
#   POSTGRES_APT_SOURCE=debian   the backup image's client from Debian's own archive (with
#            POSTGRES_CLIENT_MAJOR=15, bookworm's) instead of the PostgreSQL project's (PGDG)
#   AZCOPY_RUNTIME_PACKAGES      the shared libraries a prebuilt azcopy needs, installed with apt

ARG RUST_IMAGE=rust:1.95-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim
ARG GO_IMAGE=golang:1.23-bookworm
# glibc, libgcc, CA certificates and tzdata; no shell, no package manager. (Distroless publishes no
# versioned tags: pin a digest, gcr.io/distroless/cc-debian12:nonroot@sha256:..., for reproducible
# builds.)
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG BACKUP_BASE_IMAGE=debian:bookworm-slim
ARG ARTIFACTS=source
ARG CARGO_CHEF_VERSION=0.1.78
ARG AZCOPY_VERSION=10.27.1
# pg_dump must be at least the server's major version (Azure Flexible Server runs 16: terraform/).
ARG POSTGRES_CLIENT_MAJOR=17
ARG POSTGRES_APT_SOURCE=pgdg
# Debian packages a prebuilt azcopy links against (azcopy's own release binaries: libsecret-1-0).
ARG AZCOPY_RUNTIME_PACKAGES=""

# --- Rust -----------------------------------------------------------------------------------------
# bookworm (Debian 12) for the builder because the runtime is distroless Debian 12: the binaries
# link against the same glibc they run with.
FROM ${RUST_IMAGE} AS chef
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
FROM ${NODE_IMAGE} AS web
WORKDIR /web
# The lock file alone first, so the npm ci layer is reused while only the sources change.
COPY services/web/package.json services/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY services/web/ ./
RUN npm run build

# --- azcopy ---------------------------------------------------------------------------------------
# For the backup image: built from source at a pinned version (its Go module) instead of
# downloading a release archive by URL; bookworm, like the runtime's glibc.
FROM ${GO_IMAGE} AS azcopy
ARG AZCOPY_VERSION
RUN go install "github.com/Azure/azure-storage-azcopy/v10@v${AZCOPY_VERSION}" \
    && cp "$(go env GOPATH)/bin/azure-storage-azcopy" /usr/local/bin/azcopy

# --- what the final stages copy -------------------------------------------------------------------
# ARTIFACTS picks one of each pair. Both stages of a pair hold their files at the same paths, so the
# final stages do not depend on the choice; a builder builds only the stages the target needs (the
# Rust, Node and Go stages are skipped with ARTIFACTS=prebuilt). `prebuilt` in COPY --from is the
# build context of that name, not a stage (DL3022).
FROM builder AS binaries-source

FROM scratch AS binaries-prebuilt
# hadolint ignore=DL3022
COPY --from=prebuilt tocsin-ingest tocsin-incident-core tocsin-query tocsin-notifier /out/

FROM web AS dashboard-source

FROM scratch AS dashboard-prebuilt
# hadolint ignore=DL3022
COPY --from=prebuilt web/ /web/dist/

FROM azcopy AS azcopy-source

FROM scratch AS azcopy-prebuilt
# hadolint ignore=DL3022
COPY --from=prebuilt azcopy /usr/local/bin/azcopy

# Stages, not images: no tag to pin (DL3006).
# hadolint ignore=DL3006
FROM binaries-${ARTIFACTS} AS binaries
# hadolint ignore=DL3006
FROM dashboard-${ARTIFACTS} AS dashboard
# hadolint ignore=DL3006
FROM azcopy-${ARTIFACTS} AS azcopy-binary

# --- runtime --------------------------------------------------------------------------------------
# The distroless :nonroot variant runs as 65532; tocsin's uid is 10001, the chart's runAsUser, so
# the image says that itself for any other runtime.
FROM ${RUNTIME_IMAGE} AS runtime
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
COPY --from=binaries /out/tocsin-ingest /usr/local/bin/tocsin-ingest
ENTRYPOINT ["/usr/local/bin/tocsin-ingest"]

FROM runtime AS incident-core
LABEL org.opencontainers.image.title="tocsin-incident-core" \
      org.opencontainers.image.description="tocsin incident-core: the only writer of incidents; also runs the database migrations (migrate)"
COPY --from=binaries /out/tocsin-incident-core /usr/local/bin/tocsin-incident-core
ENTRYPOINT ["/usr/local/bin/tocsin-incident-core"]

FROM runtime AS notifier
LABEL org.opencontainers.image.title="tocsin-notifier" \
      org.opencontainers.image.description="tocsin notifier: incident events to Slack, Teams, e-mail and GitHub"
COPY --from=binaries /out/tocsin-notifier /usr/local/bin/tocsin-notifier
ENTRYPOINT ["/usr/local/bin/tocsin-notifier"]

# --- backup ---------------------------------------------------------------------------------------
# The database backup job (deploy/helm/tocsin/templates/backup-cronjob.yaml). Not a tocsin
# service: a shell script around pg_dump and azcopy, so it needs a shell and its tools, and takes
# Debian slim rather than distroless.
FROM ${BACKUP_BASE_IMAGE} AS backup
ARG POSTGRES_CLIENT_MAJOR
ARG POSTGRES_APT_SOURCE
ARG AZCOPY_RUNTIME_PACKAGES
LABEL org.opencontainers.image.source="https://github.com/tocsin-oncall/tocsin" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="tocsin" \
      org.opencontainers.image.title="tocsin-backup" \
      org.opencontainers.image.description="tocsin backup: pg_dump of the database to Azure Blob Storage (docs/operations.md)"
# Debian 12 ships PostgreSQL 15, older than the server, so by default the client comes from the
# PostgreSQL Global Development Group's repository (pgdg). Its signing key is in Debian's own
# postgresql-common, so nothing is fetched outside apt. ca-certificates: apt needs them to reach
# PGDG over HTTPS, and azcopy to reach Blob Storage and Entra ID. Not pinned to a Debian revision
# (DL3008): the security updates of bookworm and PGDG are wanted; the client's major version is
# pinned by the package name. AZCOPY_RUNTIME_PACKAGES is a list, split on purpose (SC2086).
# hadolint ignore=DL3008,SC2086
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates postgresql-common \
    && if [ "${POSTGRES_APT_SOURCE}" = pgdg ]; then \
        echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
            > /etc/apt/sources.list.d/pgdg.list \
        && apt-get update; \
    fi \
    && apt-get install -y --no-install-recommends "postgresql-client-${POSTGRES_CLIENT_MAJOR}" \
        ${AZCOPY_RUNTIME_PACKAGES} \
    && rm -rf /var/lib/apt/lists/*
# The client's own binaries ahead of Debian's pg_wrapper, so the version is the one installed here.
ENV PATH="/usr/lib/postgresql/${POSTGRES_CLIENT_MAJOR}/bin:${PATH}"
COPY --from=azcopy-binary /usr/local/bin/azcopy /usr/local/bin/azcopy
COPY deploy/backup/backup.sh /usr/local/bin/tocsin-backup
USER 10001:10001
# azcopy's logs and plans, and the dump itself, go to /tmp (the chart mounts an emptyDir there).
ENV HOME=/tmp
ENTRYPOINT ["/usr/local/bin/tocsin-backup"]

# Last, so that a plain `docker build .` gives the image with the dashboard.
FROM runtime AS query
LABEL org.opencontainers.image.title="tocsin-query" \
      org.opencontainers.image.description="tocsin query: the read API, live updates and the dashboard"
COPY --from=binaries /out/tocsin-query /usr/local/bin/tocsin-query
COPY --from=dashboard /web/dist /app/web
ENV WEB_ROOT=/app/web
ENTRYPOINT ["/usr/local/bin/tocsin-query"]
