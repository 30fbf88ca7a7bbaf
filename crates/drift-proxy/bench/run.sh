#!/usr/bin/env bash
# Benchmark: wrk against drift-proxy, nginx and HAProxy, each proxying to the same fast backend
# (nginx `return 200 "ok"`) on loopback with upstream keep-alive. Prints req/s, p50/p99 latency
# and proxy RSS, plus ratios to nginx. drift runs twice: as configured for nginx (the same file),
# and `drift-pipe` with its `pipeline PIPELINE` upstream extension added. Everything binds 127.0.0.1 high ports; processes are
# started with their own pid files/logs in a temp dir and stopped by pid.
#
# Usage: [ROUNDS=5] [NO_BUILD=1] [KEEPALIVE=128] [PIPELINE=16] crates/drift-proxy/bench/run.sh [WORKERS=1] [DURATION=10s] [CONNECTIONS=100]
#
# KEEPALIVE is the upstream `keepalive N` of nginx and drift (HAProxy's `http-reuse always` keeps
# every idle server connection). With N below the number of client connections, a proxy that
# forwards faster than the backend answers has more than N requests at the backend at once and
# closes (then reopens) the surplus connections on every burst: with N=64 and 100 clients,
# drift made a connect for ~1 request in 5. Both ways are reported in README.
#
# PIN=1 gives the proxies CPU 1 and wrk plus the backend CPU 0 (needs 2+ cores). The `cpu%`
# column (proxy CPU time / wall time) then shows whether the proxy or the load generator is the
# limit: a proxy well under 100% of its core is waiting for wrk and the backend.
set -euo pipefail
WORKERS=${1:-1}
DURATION=${2:-10s}
CONNS=${3:-100}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TMP=$(mktemp -d /tmp/drift-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

BACKEND=19001 NGINX=19010 HAPROXY=19020 DRIFT=19030 DRIFTP=19040

# The product binary (`drift proxy`), not an example: its allocator and flags are what users run.
[ -n "${NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release -q -p drift --bin drift)
DRIFT_BIN=$CARGO_TARGET_DIR/release/drift

cat > "$TMP/backend.conf" <<CONF
worker_processes 1;
pid $TMP/backend.pid;
error_log $TMP/backend.err;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:$BACKEND; keepalive_requests 1000000; location / { return 200 "ok"; } }
}
CONF

# The same upstream block is read by nginx and drift (drift reads nginx config).
proxy_conf() { # $1 = listen port, $2 = extra main-context lines
cat <<CONF
$2
events { worker_connections 4096; }
http {
  access_log off;
  upstream be { server 127.0.0.1:$BACKEND; keepalive ${KEEPALIVE:-128}; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$1;
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
}
proxy_conf $NGINX "worker_processes $WORKERS; pid $TMP/nginx.pid; error_log $TMP/nginx.err;" > "$TMP/nginx.conf"
proxy_conf $DRIFT "" > "$TMP/drift.conf"
# drift-pipe: the same, plus drift's `pipeline` extension (off by default: see README).
proxy_conf $DRIFTP "" | sed "s/keepalive ${KEEPALIVE:-128};/keepalive ${KEEPALIVE:-128}; pipeline ${PIPELINE:-16};/" > "$TMP/driftp.conf"
# nginx closes a client connection after 1000 requests by default (drift and HAProxy do not):
# lift that so wrk's connections stay open for every proxy alike.
sed -i 's/access_log off;/access_log off; keepalive_requests 1000000;/' "$TMP/nginx.conf"

cat > "$TMP/haproxy.cfg" <<CONF
global
  nbthread $WORKERS
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND
CONF

if [ -n "${PIN:-}" ]; then GEN=(taskset -c 0) PROXY=(taskset -c 1); else GEN=() PROXY=(); fi
start_bg() { "$@" > "$TMP/$(basename "$1").$RANDOM.out" 2>&1 & LAST=$!; PIDS+=("$LAST"); }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
rss_kib() { # sum VmRSS over a pid and its children
  local total=0
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/VmRSS/{print $2}' /proc/$p/status 2>/dev/null || echo 0)))
  done
  echo $total
}

start_bg "${GEN[@]}" nginx -e "$TMP/backend.err" -p "$TMP" -c "$TMP/backend.conf" -g "daemon off;"
wait_port $BACKEND
start_bg "${PROXY[@]}" nginx -e "$TMP/nginx.err" -p "$TMP" -c "$TMP/nginx.conf" -g "daemon off;"; NGINX_PID=$LAST
start_bg "${PROXY[@]}" haproxy -db -f "$TMP/haproxy.cfg"; HAPROXY_PID=$LAST
start_bg "${PROXY[@]}" "$DRIFT_BIN" proxy -c "$TMP/drift.conf" -w "$WORKERS"; DRIFT_PID=$LAST
start_bg "${PROXY[@]}" "$DRIFT_BIN" proxy -c "$TMP/driftp.conf" -w "$WORKERS"; DRIFTP_PID=$LAST
wait_port $NGINX; wait_port $HAPROXY; wait_port $DRIFT; wait_port $DRIFTP

# Check every proxy answers "ok" before measuring.
for port in $NGINX $HAPROXY $DRIFT $DRIFTP; do
  body=$(curl -s "http://127.0.0.1:$port/")
  [ "$body" = ok ] || { echo "proxy on $port answered '$body'" >&2; exit 1; }
done

to_ms() { # wrk latency like 1.23ms / 850.00us / 1.02s -> ms
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'
}

# CPU time (user, system clock ticks) of a proxy and its children: CPU per request is the figure a
# loaded machine distorts least (req/s also depends on what else gets the cores).
ticks() {
  local u=0 s=0 a b
  for p in $1 $(pgrep -P "$1" || true); do
    read -r a b < <(awk '{print $14, $15}' /proc/$p/stat 2>/dev/null || echo "0 0")
    u=$((u + a)); s=$((s + b))
  done
  echo "$u $s"
}
TCK=$(getconf CLK_TCK)
ROUNDS=${ROUNDS:-5}
run() { # name port pid: one measured run; one line "rps p50 p99 usr sys rss" appended to $TMP/res-NAME
  "${GEN[@]}" wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:$2/" >/dev/null   # warm-up
  local u0 s0 u1 s1 n out
  read -r u0 s0 < <(ticks "$3")
  local t0 t1
  t0=$(date +%s.%N)
  out=$("${GEN[@]}" wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2/")
  t1=$(date +%s.%N)
  read -r u1 s1 < <(ticks "$3")
  n=$(echo "$out" | awk '/requests in/{print $1}')
  echo "$out" >> "$TMP/wrk-$1.txt"
  if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "WARNING: $1 had errors" >&2; echo "$out" >&2; fi
  printf '%s %s %s %s %s %s %s\n' \
    "$(echo "$out" | awk '/Requests\/sec/{print $2}')" \
    "$(to_ms "$(echo "$out" | awk '$1=="50%"{print $2}')")" \
    "$(to_ms "$(echo "$out" | awk '$1=="99%"{print $2}')")" \
    "$(echo "($u1 - $u0) * 1000000 / $TCK / $n" | bc -l)" \
    "$(echo "($s1 - $s0) * 1000000 / $TCK / $n" | bc -l)" \
    "$(rss_kib "$3")" \
    "$(echo "($u1 - $u0 + $s1 - $s0) * 100 / $TCK / ($t1 - $t0)" | bc -l)" >> "$TMP/res-$1"
  echo "  $1: $(tail -1 "$TMP/res-$1")" >&2
}
median() { # file column -> median
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'
}
# Interleave: every round runs all three, rotating which goes first, so none always runs first
# or last (other load on the machine changes over minutes). Medians over rounds are reported.
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
ORDER=(nginx haproxy drift drift-pipe)
declare -A PORT=([nginx]=$NGINX [haproxy]=$HAPROXY [drift]=$DRIFT [drift-pipe]=$DRIFTP) PID=([nginx]=$NGINX_PID [haproxy]=$HAPROXY_PID [drift]=$DRIFT_PID [drift-pipe]=$DRIFTP_PID)
for r in $(seq 0 $((ROUNDS - 1))); do
  echo "round $((r + 1))/$ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  for i in 0 1 2 3; do
    n=${ORDER[$(((i + r) % 4))]}
    run "$n" "${PORT[$n]}" "${PID[$n]}"
  done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "machine: $(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "upstream keepalive ${KEEPALIVE:-128}${PIN:+; pinned: proxies on CPU 1, wrk and backend on CPU 0}"
echo "wrk -t2 -c$CONNS -d$DURATION, $ROUNDS interleaved rounds (medians), keep-alive; proxies: $WORKERS worker(s)/thread(s) each; backend: nginx 1 worker 'return 200'"
echo "load average before: $LOAD0 after: $LOAD1"
printf '%-10s %12s %10s %10s %10s %10s %10s %12s %12s %8s\n' proxy req/s p50_ms p99_ms rss_MiB rps/nginx p99/nginx usr_us/req sys_us/req cpu%
NR=$(median "$TMP/res-nginx" 1); NP99=$(median "$TMP/res-nginx" 3)
for n in nginx haproxy drift drift-pipe; do
  f="$TMP/res-$n"
  rps=$(median "$f" 1); p99=$(median "$f" 3)
  printf '%-10s %12.0f %10.2f %10.2f %10.1f %10.2f %10.2f %12.1f %12.1f %8.0f\n' "$n" "$rps" "$(median "$f" 2)" "$p99" \
    "$(echo "$(median "$f" 6) / 1024" | bc -l)" "$(echo "$rps / $NR" | bc -l)" "$(echo "$p99 / $NP99" | bc -l)" \
    "$(median "$f" 4)" "$(median "$f" 5)" "$(median "$f" 7)"
done
for n in drift drift-pipe; do
  echo "per-round $n/nginx req/s ratios: $(paste -d' ' <(awk '{print $1}' "$TMP/res-$n") <(awk '{print $1}' "$TMP/res-nginx") | awk '{printf "%.2f ", $1/$2}')"
done
