#!/usr/bin/env bash
# Creates the virtualenv the contract test runs Schemathesis from (PyPI), once.
#   scripts/setup-schemathesis.sh [VENV]
set -euo pipefail

version=4.32.5
venv=${1:-$HOME/.cache/sluice/schemathesis}
if "$venv/bin/schemathesis" --version 2>/dev/null | grep -q " $version\$"; then
  exit 0
fi
# Debian's python3 leaves venv's pip bootstrap (ensurepip) to python3-venv.
if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "installing Debian's python3-venv..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
fi
echo "installing schemathesis $version into $venv (once)..." >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
