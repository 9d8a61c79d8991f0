#!/usr/bin/env bash
# Installs what building and testing Sluice needs and is missing. Idempotent, so
# `make run` and `make test` call it every time; a machine that has everything pays
# a few milliseconds.
#   scripts/setup.sh          build tools (wasm target, wasm-bindgen CLI)
#   scripts/setup.sh test     also chromium, PostgreSQL and the browser-test packages
set -euo pipefail
cd "$(dirname "$0")/.."

want=${1:-build}
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# The wasm target for the dashboard's hydrate bundle.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# The wasm-bindgen CLI must match the wasm-bindgen crate exactly (pinned in Cargo.toml).
bindgen_version=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen_version\$"; then
  echo "installing wasm-bindgen-cli $bindgen_version (about 3 minutes, once)..."
  # Not --locked: its lock file pins a crate the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

if [ "$want" = test ]; then
  command -v chromium >/dev/null || apt_install chromium
  ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || apt_install postgresql
  # promtool, for the shipped alert rules and dashboard (the server it comes with is
  # not started).
  command -v promtool >/dev/null || apt_install --no-install-recommends prometheus
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    # Only the test runner and its driver: the browser is Debian's chromium, never a
    # download (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD keeps npm from trying).
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
fi
