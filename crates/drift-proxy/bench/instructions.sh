#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind: a figure a loaded machine
# does not distort (this VM has no hardware counters for `perf stat`). Runs `drift proxy -w 1`
# and nginx (one worker, master_process off) under callgrind, each in front of the same nginx
# `return 200` backend, collection switched on only while wrk runs (keep-alive, 10 connections).
#
# Usage: crates/drift-proxy/bench/instructions.sh [SECONDS=5] [DRIFT_BIN]
set -euo pipefail
SECS=${1:-5}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
DRIFT_BIN=${2:-${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/target}/release/drift}
TMP=$(mktemp -d /tmp/drift-insn.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
BACKEND=19101 PROXY=19130
wait_port() { for _ in $(seq 1200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

cat > "$TMP/backend.conf" <<CONF
worker_processes 1; pid $TMP/backend.pid; error_log $TMP/backend.err;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$BACKEND; keepalive_requests 1000000; location / { return 200 "ok"; } } }
CONF
conf() { cat <<CONF
$1
events { worker_connections 1024; }
http {
  access_log off;
  upstream be { server 127.0.0.1:$BACKEND; keepalive 64; }
  server { listen 127.0.0.1:$PROXY;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
}
conf "" > "$TMP/drift.conf"
conf "worker_processes 1; master_process off; pid $TMP/nginx.pid; error_log $TMP/nginx.err;" | sed "s/access_log off;/access_log off; keepalive_requests 1000000;/" > "$TMP/nginx.conf"

nginx -e "$TMP/backend.err" -p "$TMP" -c "$TMP/backend.conf" -g "daemon off;" >/dev/null 2>&1 & PIDS+=($!)
wait_port $BACKEND

measure() { # name cmd...
  local name=$1; shift
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$TMP/$name.cg" "$@" >"$TMP/$name.log" 2>&1 &
  local pid=$!; PIDS+=($pid)
  wait_port $PROXY
  wrk -t1 -c10 -d2s "http://127.0.0.1:$PROXY/" >/dev/null   # warm-up (pool filled, code paged in)
  callgrind_control -i on $pid >/dev/null
  local out; out=$(wrk -t1 -c10 -d"${SECS}s" "http://127.0.0.1:$PROXY/")
  callgrind_control -i off $pid >/dev/null
  local n; n=$(echo "$out" | awk '/requests in/{print $1}')
  kill -INT $pid 2>/dev/null || true; kill -TERM $pid 2>/dev/null || true
  for _ in $(seq 200); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  local ir; ir=$(cat "$TMP/$name.cg"* | awk '/^totals:/{t+=$2} END{print t+0}')
  echo "$name: $n requests, $ir instructions, $(echo "$ir / $n" | bc) instructions/request"
  cp "$TMP/$name.cg" "/tmp/cg/$name.$(date +%H%M%S).cg" 2>/dev/null || true
}
measure drift "$DRIFT_BIN" proxy -c "$TMP/drift.conf" -w 1
measure nginx nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx.err" -g "daemon off;"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
