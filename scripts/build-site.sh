#!/usr/bin/env bash
# Builds the dashboard's browser side into $SITE/pkg: the hydrate wasm bundle (its
# own small-and-slow profile), its JS glue from wasm-bindgen, and the stylesheet
# (see style/).
set -euo pipefail
cd "$(dirname "$0")/.."
site=${SLUICE_SITE_ROOT:-target/site}
target_dir=${CARGO_TARGET_DIR:-target}
cargo build -p sluice-frontend --lib --target wasm32-unknown-unknown --profile wasm-release
mkdir -p "$site/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" --out-name sluice \
  "$target_dir/wasm32-unknown-unknown/wasm-release/sluice_frontend.wasm"
# Tailwind utilities found in app/src plus the component layer, by a Rust step
# (encre-css); --check fails the build on a class that has no rule anywhere.
cargo run --quiet -p sluice-style -- --check "$site/pkg/sluice.css"
