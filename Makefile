# Sluice: `make run` starts a development server on SQLite; `make test` runs every test
# (SQLite and PostgreSQL, API, delivery, crash recovery, browser). Both install what
# is missing first (scripts/setup.sh).

SHELL := /bin/bash
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR
SITE_ROOT := $(CURDIR)/target/site
export SLUICE_SITE_ROOT ?= $(SITE_ROOT)
BIN := $(CARGO_TARGET_DIR)/debug/sluice
PG_DIR := /tmp/sluice-test-pg-$(shell id -u)

.PHONY: run demo build site setup setup-test test test-rust test-contract test-e2e test-monitoring lint bench clean

## Development server on 127.0.0.1:3000 with SQLite under ./data. Dev-friendly
## defaults (override any of them in the environment): private targets allowed, so
## endpoints on localhost work; a fixed bootstrap key, printed below.
run: setup build
	@mkdir -p data
	@key=$${SLUICE_BOOTSTRAP_API_KEY:-sk_dev_local_only_change_me}; \
	listen=$${SLUICE_LISTEN:-127.0.0.1:3000}; \
	admin=$${SLUICE_BOOTSTRAP_ADMIN_EMAIL:-admin@localhost}; \
	password=$${SLUICE_BOOTSTRAP_ADMIN_PASSWORD:-dev-admin-change-me}; \
	echo; \
	echo "  Platform API key: $$key   (Authorization: Bearer $$key)"; \
	echo "  Try: curl -s -H 'Authorization: Bearer $$key' http://$$listen/v1/tenants"; \
	echo "  Dashboard: http://$$listen/  sign in as $$admin / $$password (when ./data was created with them)"; \
	echo; \
	SLUICE_ALLOW_PRIVATE_TARGETS=$${SLUICE_ALLOW_PRIVATE_TARGETS:-true} \
	SLUICE_BOOTSTRAP_API_KEY=$$key \
	SLUICE_BOOTSTRAP_ADMIN_EMAIL=$$admin \
	SLUICE_BOOTSTRAP_ADMIN_PASSWORD=$$password \
	exec $(BIN)

## `make run` with demo data: three tenants on different tiers whose endpoints point at
## a built-in receiver (fast, slow, flaky, down), their users, and an event every 400 ms.
demo:
	@SLUICE_DEMO=true $(MAKE) --no-print-directory run

setup:
	@scripts/setup.sh build

setup-test:
	@scripts/setup.sh test

site:
	@scripts/build-site.sh

build: site
	cargo build -p sluice-server

## Everything CI runs. PostgreSQL comes from a throwaway cluster started here and
## removed afterwards; under CI=true its tests must run.
test: setup-test lint build
	@set -euo pipefail; \
	url=$$(scripts/pg-test-cluster.sh start $(PG_DIR)); \
	trap 'scripts/pg-test-cluster.sh stop $(PG_DIR)' EXIT; \
	SLUICE_TEST_PG_URL=$$url $(MAKE) --no-print-directory test-rust; \
	SLUICE_TEST_PG_URL=$$url $(MAKE) --no-print-directory test-contract; \
	$(MAKE) --no-print-directory test-monitoring; \
	$(MAKE) --no-print-directory test-e2e

test-rust:
	cargo test --no-fail-fast

## Schemathesis against the real binary, on SQLite and (given SLUICE_TEST_PG_URL, and
## always under CI=true) on PostgreSQL. Against a running Sluice instead:
## scripts/contract-test.sh url http://127.0.0.1:3000 <platform key>
test-contract: build
	scripts/contract-test.sh sqlite
	@if [ -n "$${SLUICE_TEST_PG_URL:-}" ]; then \
		scripts/contract-test.sh postgres "$$SLUICE_TEST_PG_URL"; \
	elif [ "$${CI:-}" = true ]; then \
		echo "CI=true needs SLUICE_TEST_PG_URL for the PostgreSQL contract test" >&2; exit 1; \
	else \
		echo "skipping the PostgreSQL contract test: no SLUICE_TEST_PG_URL"; \
	fi

## The shipped alert rules (valid, and their unit tests pass) and Grafana dashboard
## (valid PromQL, only documented metrics).
test-monitoring:
	scripts/check-monitoring.sh

test-e2e:
	@rm -rf /tmp/sluice-e2e && mkdir -p /tmp/sluice-e2e
	cd end2end && SLUICE_BIN=$(BIN) SLUICE_E2E_DB=/tmp/sluice-e2e/sluice.db npx playwright test

lint:
	cargo fmt --all --check
	rustfmt --edition 2021 --check engine/src/store/sql/*.rs
	cargo clippy --all-targets -- -D warnings

## The benchmark: SQLite and PostgreSQL, JSON and a table (see README).
bench: setup
	cargo build --release -p sluice-server -p sluice-bench
	@set -euo pipefail; \
	url=$$(scripts/pg-test-cluster.sh start $(PG_DIR)-bench --durable); \
	trap 'scripts/pg-test-cluster.sh stop $(PG_DIR)-bench' EXIT; \
	$(CARGO_TARGET_DIR)/release/sluice-bench --sluice $(CARGO_TARGET_DIR)/release/sluice --postgres-admin-url $$url $(BENCH_ARGS)

clean:
	cargo clean
	rm -rf data end2end/test-results end2end/screenshots
