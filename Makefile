# tocsin developer tasks. `make` (or `make help`) lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# RELEASE=1 builds/runs/tests with --release (target/release) instead of target/debug.
RELEASE ?=
# Extra arguments for `cargo test`, e.g. CARGO_TEST_ARGS='-p tocsin-storage -- --nocapture'.
CARGO_TEST_ARGS ?=
# Seconds of fuzzing per target: `make test-fuzz`, and the short run in `make test`.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

ifeq ($(RELEASE),1)
PROFILE := release
RELEASE_FLAG := --release
else
PROFILE := debug
RELEASE_FLAG :=
endif

SERVICES := tocsin-ingest tocsin-incident-core tocsin-query tocsin-notifier

.PHONY: help build run demo bench lint lint-deploy lint-delivery lint-rules sync-chart-files test test-fuzz test-api-schema web web-check web-e2e infra-up infra-down clean

help:
	@echo 'tocsin make targets:'
	@echo '  build       cargo build --workspace'
	@echo '  run         build the dashboard and the four services and run them locally (scripts/run-local.sh):'
	@echo '              dashboard and API http://127.0.0.1:8080, webhook http://127.0.0.1:8081/alerts; Ctrl-C stops;'
	@echo '              TOCSIN_LOCAL_SSO=1 also starts a local OpenID Connect provider to sign in with (docs/sign-in.md)'
	@echo '  web         build the dashboard (services/web -> services/web/dist; npm ci on first use)'
	@echo '  web-check   the dashboard'"'"'s lint, component tests (Vitest) and build with its size budget'
	@echo '  web-e2e     the dashboard in headless Chromium against the real stack (scripts/web-e2e.sh)'
	@echo '  test-fuzz   fuzz the webhook and Slack action parsers, FUZZ_SECONDS (60) per target (scripts/test-fuzz.sh;'
	@echo '              nightly toolchain, cargo-fuzz into .local/cargo)'
	@echo '  test-api-schema  Schemathesis against query'"'"'s and ingest'"'"'s OpenAPI documents, then the load scripts'
	@echo '              (loadtest/) for a few seconds, on a stack of their own on ports 18080-18083'
	@echo '  demo        send a realistic stream of alerts (captured + generated) to the running stack'
	@echo '  bench       release build, then measure ingest, end-to-end throughput, latency and memory'
	@echo '              (figures in docs/benchmarks.md; the last run is kept in .local/bench-last.txt)'
	@echo '  bench-data  release build, a database seeded with a year of incidents (1M incidents, 10M alerts; about'
	@echo '              12 GB while it runs, dropped afterwards), then p50/p99 of query'"'"'s reads under 50 clients and the'
	@echo '              dashboard'"'"'s first render (scripts/bench-data.sh; BENCH_DATA_ARGS='"'"'--incidents 20000 --alerts 200000'"'"')'
	@echo '  lint        cargo fmt --check + cargo clippy -D warnings'
	@echo '  lint-deploy helm lint/template, offline Kubernetes schema validation and chart tests'
	@echo '              (no cluster; first run builds helm into .local/bin and a venv in .local/venv)'
	@echo '  lint-delivery  the Dockerfile, workflows and Terraform checked offline (scripts/lint-delivery.sh; the'
	@echo '              checks are Python in scripts/lint-delivery/; first run installs tools into .local/)'
	@echo '  lint-rules  promtool check/test of dashboards/rules and checks of dashboards/*.json'
	@echo '  images      the container images (Dockerfile: four services and the backup job) with docker or podman, if one has an engine'
	@echo '  images-here the five images with podman from the host'"'"'s debug build and a debootstrapped Debian base (no registry needed)'
	@echo '  test-images images-here, then each image run read-only as non-root, and a webhook turned into an incident by the'
	@echo '              four service containers on one network, the backup job uploading to Azurite and the archive'
	@echo '              job writing to S3 (moto) (scripts/test-images.sh; skipped loudly without podman)'
	@echo '  sync-chart-files  copy dashboards/ (rules, Grafana JSON) into the Helm chart after editing them'
	@echo '  test        lint, cargo test --workspace against PostgreSQL + Redis, test-api-schema, a'
	@echo '              FUZZ_SMOKE_SECONDS (10) fuzz run per target, the rules, chart, image, workflow and'
	@echo '              Terraform checks, then web-check, web-e2e and test-images:'
	@echo '              DATABASE_URL/REDIS_URL if both are set, else the project-local infra,'
	@echo '              which is started if needed and LEFT RUNNING afterwards (fast reruns;'
	@echo '              `make infra-down` stops it)'
	@echo '  infra-up    start the project-local PostgreSQL (:55432) and Redis (:56379) under .local/'
	@echo '              (eval "$$(scripts/local-infra.sh up)" also sets DATABASE_URL/REDIS_URL in your shell)'
	@echo '  infra-down  stop them'
	@echo '  clean       stop the local infra, cargo clean, remove .local/ (local database and tokens)'
	@echo ''
	@echo 'Variables: RELEASE=1 (--release), CARGO_TEST_ARGS=... (extra cargo test args),'
	@echo '           FUZZ_SECONDS / FUZZ_SMOKE_SECONDS (fuzzing per target),'
	@echo '           TOCSIN_PG_PORT / TOCSIN_REDIS_PORT (local infra ports), RUST_LOG (make run)'

build:
	$(CARGO) build --workspace $(RELEASE_FLAG)

run: web
	$(CARGO) build $(addprefix -p ,$(SERVICES)) $(RELEASE_FLAG)
	PROFILE=$(PROFILE) bash scripts/run-local.sh

# The dashboard. Without npm the services still run; query then serves the API only.
web:
	@if command -v npm >/dev/null 2>&1; then \
		cd services/web && { [[ -d node_modules ]] || npm ci --no-audit --no-fund; } && npm run build; \
	else \
		echo "make web: npm not found (Node.js 20.19 or newer); skipping the dashboard" >&2; \
	fi

web-check:
	cd services/web && { [[ -d node_modules ]] || npm ci --no-audit --no-fund; } && npm run check

web-e2e:
	bash scripts/web-e2e.sh e2e

test-fuzz:
	bash scripts/test-fuzz.sh $(FUZZ_SECONDS)

test-api-schema:
	bash scripts/test-api-schema.sh

demo:
	$(CARGO) run -q -p tocsin-loadgen --bin tocsin-demo $(RELEASE_FLAG)

bench:
	bash scripts/bench.sh

# Arguments for tocsin-bench-data (`--incidents`, `--alerts`, ... ; `--help` lists them).
BENCH_DATA_ARGS ?=
.PHONY: bench-data
bench-data:
	bash scripts/bench-data.sh $(BENCH_DATA_ARGS)

lint-deploy:
	bash scripts/lint-deploy.sh

lint-delivery:
	bash scripts/lint-delivery.sh

lint-rules:
	bash scripts/lint-rules.sh

# The images (four services and the backup job), tagged $(IMAGE_REGISTRY)/tocsin-<service>:$(IMAGE_TAG) (default tocsin/…:dev),
# with IMAGE_ENGINE, else the first of docker and podman that reaches an engine; none: says so and
# builds nothing. IMAGE_BUILD_FLAGS go to every build (build arguments: the Dockerfile's header).
IMAGE_ENGINE ?=
IMAGE_BUILD_FLAGS ?=
.PHONY: images images-here test-images
images:
	@engine=$(IMAGE_ENGINE); if [[ -z $$engine ]]; then for e in docker podman; do \
		if command -v $$e >/dev/null 2>&1 && $$e info >/dev/null 2>&1; then engine=$$e; break; fi; \
	done; fi; \
	if [[ -z $$engine ]]; then \
		echo "make images: no container engine available (docker or podman with a running daemon); no image built" >&2; \
		exit 0; \
	fi; \
	for svc in ingest incident-core query notifier backup; do \
		tag="$(or $(IMAGE_REGISTRY),tocsin)/tocsin-$$svc:$(or $(IMAGE_TAG),dev)"; \
		echo "+ $$engine build --target $$svc --tag $$tag $(IMAGE_BUILD_FLAGS) ." >&2; \
		$$engine build --target $$svc --tag "$$tag" $(IMAGE_BUILD_FLAGS) . || exit 1; \
	done; \
	$$engine image ls --filter "reference=$(or $(IMAGE_REGISTRY),tocsin)/tocsin-*:$(or $(IMAGE_TAG),dev)"

# The five images with podman on a machine without registries, from the host's build
# (scripts/test-images.sh: debootstrapped Debian base, target/debug binaries, the built dashboard).
images-here:
	bash scripts/test-images.sh build

# images-here, then each image run and the four services together turning a webhook into an incident.
test-images:
	PROFILE=$(PROFILE) bash scripts/test-images.sh

sync-chart-files:
	bash scripts/sync-chart-files.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# `infra_env=$$(…)` rather than `eval "$$(…)"`: eval of a failed command
# substitution still succeeds, and the tests would run without a database.
test: lint
	@if [[ -n "$${DATABASE_URL:-}" && -n "$${REDIS_URL:-}" ]]; then \
		echo "make test: using DATABASE_URL and REDIS_URL from the environment" >&2; \
	else \
		infra_env="$$(bash scripts/local-infra.sh up)"; \
		eval "$$infra_env"; \
	fi; \
	bash scripts/test-tools.sh; \
	echo "+ $(CARGO) test --workspace $(RELEASE_FLAG) $(CARGO_TEST_ARGS)" >&2; \
	$(CARGO) test --workspace $(RELEASE_FLAG) $(CARGO_TEST_ARGS)
	$(MAKE) --no-print-directory test-api-schema
	FUZZ_BUILD=quick bash scripts/test-fuzz.sh $(FUZZ_SMOKE_SECONDS)
	@# The Prometheus rules, dashboards and Helm chart are tested too, and the web dashboard.
	bash scripts/lint-rules.sh
	bash scripts/lint-deploy.sh
	bash scripts/lint-delivery.sh
	bash scripts/test-backup.sh
	$(MAKE) --no-print-directory web-check
	$(MAKE) --no-print-directory web-e2e
	PROFILE=$(PROFILE) bash scripts/test-images.sh

infra-up:
	@bash scripts/local-infra.sh up

infra-down:
	@bash scripts/local-infra.sh down

clean:
	bash scripts/local-infra.sh down
	$(CARGO) clean
	rm -rf .local
