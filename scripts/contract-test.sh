#!/usr/bin/env bash
# The contract test from the outside: Schemathesis, from PyPI, against the real
# binary on a fresh database, every operation of /v1/openapi.json, generated and
# mutated requests plus stateful runs along the description's links (tenant →
# endpoint → message → delivery → attempts). Fails on any 5xx, undocumented status,
# wrong content type, or body or header that does not match the description.
#
#   scripts/contract-test.sh sqlite                    a fresh SQLite file
#   scripts/contract-test.sh postgres ADMIN_URL        a fresh database in that cluster
#   scripts/contract-test.sh url http://HOST:PORT KEY  a Sluice already running
#
# SLUICE_CONTRACT_EXAMPLES (default 40) bounds the cases per operation and phase;
# SLUICE_CONTRACT_SEED (default 1) makes a run repeatable (set it to another number,
# or "random", to explore). The report goes to target/contract/<backend>.
# One worker: Hypothesis parses lambdas' source with ast.parse, which CPython 3.11
# before 3.11.8 can fail from two threads at once ("AST constructor recursion depth
# mismatch"), an error of the tool, not of the API.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:?usage: $0 sqlite | postgres ADMIN_URL | url BASE KEY}
bin=${SLUICE_BIN:-${CARGO_TARGET_DIR:-target}/debug/sluice}
venv=${SLUICE_SCHEMATHESIS_VENV:-$HOME/.cache/sluice/schemathesis}
examples=${SLUICE_CONTRACT_EXAMPLES:-40}
seed=${SLUICE_CONTRACT_SEED:-1}
report=$PWD/target/contract/$backend
scripts/setup-schemathesis.sh "$venv"

work=$(mktemp -d /tmp/sluice-contract.XXXXXX)
server_pid=
database=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$database" ]; then psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

case "$backend" in
  url)
    base=${2:?the base URL of a running Sluice}
    key=${3:?a platform API key}
    ;;
  sqlite | postgres)
    case "$backend" in
      sqlite) db_url="sqlite://$work/sluice.db" ;;
      postgres)
        admin_url=${2:?the admin URL of a PostgreSQL cluster}
        database="sluice_contract_$$"
        psql -q "$admin_url" -c "CREATE DATABASE $database" >/dev/null
        db_url="${admin_url%/*}/$database"
        ;;
    esac
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    key="sk_contract_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    # Endpoints the generator invents point anywhere: private targets stay refused and
    # only port 9 (discard, closed here) is allowed, so no webhook leaves for a real
    # host; creating such endpoints is still tested, the refusal happens at connect.
    secret_key=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
    SLUICE_DATABASE_URL=$db_url SLUICE_LISTEN=127.0.0.1:$port SLUICE_BOOTSTRAP_API_KEY=$key \
      SLUICE_SECRET_KEY=$secret_key SLUICE_ALLOWED_PORTS=9 SLUICE_LOG=warn "$bin" >"$work/server.log" 2>&1 &
    server_pid=$!
    ready() { python3 -c "import urllib.request as u; u.urlopen('$base/readyz', timeout=2)" 2>/dev/null; }
    for _ in $(seq 1 100); do
      ready && break
      kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
      sleep 0.1
    done
    ready || { echo "Sluice did not become ready" >&2; cat "$work/server.log" >&2; exit 1; }
    ;;
  *) echo "unknown backend $backend" >&2; exit 2 ;;
esac

seed_args=(--seed "$seed")
[ "$seed" = random ] && seed_args=()
mkdir -p "$report"
echo "schemathesis against $base ($backend), $examples examples per operation"
set +e
# From the scratch directory: Schemathesis keeps a cache where it runs.
(cd "$work" && "$venv/bin/schemathesis" run "$base/v1/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "$examples" "${seed_args[@]}" --workers 1 \
  --request-timeout 30 --no-color \
  --report junit --report-dir "$report")
status=$?
set -e
if [ "$status" != 0 ] && [ -n "$server_pid" ]; then
  echo "--- the server's log:" >&2
  tail -50 "$work/server.log" >&2
fi
exit "$status"
