#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for tests and benchmarks.
#   scripts/pg-test-cluster.sh start [DIR] [--durable]   prints the admin URL
#   scripts/pg-test-cluster.sh restart DIR     (pg_ctl restart -m fast: a brief outage)
#   scripts/pg-test-cluster.sh halt DIR        (down, data kept) and then
#   scripts/pg-test-cluster.sh resume DIR      (up again, as before): a longer outage
#   scripts/pg-test-cluster.sh stop  [DIR]
# Debian's postgresql is installed when missing. The cluster listens on 127.0.0.1 on
# a free port with trust auth, owned by the `postgres` user (PostgreSQL refuses root).
# Without --durable it runs with fsync off: tests need speed, not crash safety.
set -euo pipefail

cmd=${1:?usage: $0 start|restart|halt|resume|stop [DIR] [--durable]}
dir=${2:-/tmp/sluice-test-pg}
durable=${3:-}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

case "$cmd" in
  start)
    if [ -z "$(pg_bin)" ]; then
      echo "installing Debian's postgresql..." >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq postgresql >&2
    fi
    bin=$(pg_bin)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB"
    if [ "$durable" != "--durable" ]; then
      opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    echo "$opts" >"$dir/opts"
    as_owner "$bin/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/server.log" -w start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres" | tee "$dir/url"
    ;;
  halt)
    # Down, as for an outage: the data stays for `resume`.
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -o "$(cat "$dir/opts")" -l "$dir/server.log" -w start >/dev/null
    ;;
  restart)
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w restart >/dev/null
    ;;
  stop)
    bin=$(pg_bin)
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|restart|halt|resume|stop [DIR] [--durable]" >&2
    exit 2
    ;;
esac
