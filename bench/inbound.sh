#!/usr/bin/env bash
# Inbound proxy throughput and latency, all in one run on loopback against the same tiny upstream:
#   direct       wrk -> upstream
#   nginx        wrk -> nginx configured as in Synapse's reverse-proxy docs -> upstream
#   nginx-ka     the same nginx plus upstream keep-alive (a tuned nginx, for reference)
#   haproxy-ka   wrk -> HAProxy with upstream keep-alive (http-reuse always), the best peer
#   proxy        wrk -> messenger proxy (allowlist, header policy, body checks, raw-target forwarding) -> upstream
#   proxy-base   the same proxy built from BASELINE_REF (when set), to measure a change before/after in one run
# The upstream is nginx answering a fixed JSON body. wrk runs on CPU 0, every server on CPU 1, so all
# targets compete for the same core with the same upstream.
#
# Usage: [BASELINE_REF=<git ref>] bench/inbound.sh [seconds-per-run] [connections] [proxy-warm-up-seconds]
#        (defaults: 10 64 60)
# Writes bench/out/inbound-<timestamp>.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}
warmup=${3:-60}

. bench/common.sh
need nginx nginx-light
need wrk wrk
need haproxy haproxy
need taskset util-linux

out=bench/out
work=$(mktemp -d /tmp/mp-bench.XXXXXX)
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

up=$(free_port); ngx=$(free_port); ngxka=$(free_port); hap=$(free_port); px=$(free_port); pxh=$(free_port)

cat > "$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;

  # The stand-in homeserver: a fixed small JSON answer.
  server {
    listen 127.0.0.1:$up;
    location / { default_type application/json; return 200 '{"event_id":"evt1","type":"m.room.message","content":{"body":"hello"}}'; }
  }

  # Synapse docs (docs/reverse_proxy.md), nginx section, verbatim apart from ports.
  server {
    listen 127.0.0.1:$ngx;
    location ~ ^(/_matrix|/_synapse/client) {
      proxy_pass http://127.0.0.1:$up;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header Host \$host:\$server_port;
      client_max_body_size 50M;
      proxy_http_version 1.1;
    }
  }

  # The same, with keep-alive connections to the upstream.
  upstream homeserver { server 127.0.0.1:$up; keepalive 64; }
  server {
    listen 127.0.0.1:$ngxka;
    location ~ ^(/_matrix|/_synapse/client) {
      proxy_pass http://homeserver;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header Host \$host:\$server_port;
      proxy_set_header Connection "";
      client_max_body_size 50M;
      proxy_http_version 1.1;
    }
  }
}
EOF
taskset -c 1 nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)

cat > "$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option forwardfor
  http-reuse always
frontend matrix
  bind 127.0.0.1:$hap
  default_backend homeserver
backend homeserver
  server hs 127.0.0.1:$up maxconn 64
EOF
taskset -c 1 haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)

# start_proxy <source folder> <name> <port> <health port>: publishes and starts a proxy; sets proxy_pid.
# The outbound listener is switched off: it needs a CA, and this measures the inbound side.
start_proxy() {
  dotnet publish "$1/src/Host/Host.csproj" --configuration Release --output "$work/$2" >/dev/null
  Logging__LogLevel__Default=Warning taskset -c 1 dotnet "$work/$2/MessengerProxy.dll" \
    --homeserver "http://127.0.0.1:$up" --Inbound:BindAddress=127.0.0.1 --port "$3" \
    --Health:BindAddress=127.0.0.1 --health-port "$4" --Outbound:Enabled false --TimInformation:Enabled false >"$work/$2.log" 2>&1 &
  proxy_pid=$!
  pids+=($proxy_pid)
}

targets=("direct $up" "nginx $ngx" "nginx-ka $ngxka" "haproxy-ka $hap")
if [ -n "${BASELINE_REF:-}" ]; then
  base=$(free_port); baseh=$(free_port)
  git worktree add --detach "$work/baseline-src" "$BASELINE_REF" >/dev/null 2>&1
  start_proxy "$work/baseline-src" proxy-base "$base" "$baseh"
  targets+=("proxy-base $base")
fi
start_proxy . proxy "$px" "$pxh"
targets+=("proxy $px")

for target in "${targets[@]}"; do
  set -- $target; port=$2
  for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/_matrix/client/versions" && break; sleep 0.1; done
done

path='/_matrix/client/v3/rooms/%21room%3Aexample.org/event/%24event%3Aexample.org'
cat > "$work/put.lua" <<'EOF'
wrk.method = "PUT"
wrk.body = string.rep("x", 1000)
wrk.body = '{"msgtype":"m.text","body":"' .. wrk.body .. '"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer syt_benchmark_token"
EOF

# run <name> <port> <scenario> <connections>: prints "name scenario rps p50 p99 non2xx"
run() {
  local name=$1 port=$2 scenario=$3 conns=$4 target args=()
  if [ "$scenario" = put ]; then
    target="http://127.0.0.1:$port/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/txn1"
    args=(-s "$work/put.lua")
  else
    target="http://127.0.0.1:$port$path"
    args=(-H "Authorization: Bearer syt_benchmark_token")
  fi
  taskset -c 0 wrk -t1 -c"$conns" -d2s "${args[@]}" "$target" >/dev/null   # warm-up
  taskset -c 0 wrk -t1 -c"$conns" -d"${duration}s" --latency "${args[@]}" "$target" >"$work/$name-$scenario-$conns.txt"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$name-$scenario-$conns.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$name-$scenario-$conns.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$name-$scenario-$conns.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$work/$name-$scenario-$conns.txt")
  echo "$name $scenario $rps $(to_ms "$p50") $(to_ms "$p99") ${non2xx:-0}"
}

to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", substr(v,1,length(v)-2)/1000; else if (v ~ /ms$/) printf "%.3f", substr(v,1,length(v)-2); else printf "%.3f", substr(v,1,length(v)-1)*1000 }'; }

# The JIT tiers the proxy's hot paths up within its first minute under load; measure the steady state.
echo "warming up the proxy for ${warmup}s" >&2
for port in $px ${base:-}; do
  taskset -c 0 wrk -t1 -c"$connections" -d"${warmup}s" -H "Authorization: Bearer syt_benchmark_token" "http://127.0.0.1:$port$path" >/dev/null
  taskset -c 0 wrk -t1 -c"$connections" -d10s -s "$work/put.lua" "http://127.0.0.1:$port/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/txn1" >/dev/null
done

throughput=()
for scenario in get put; do
  for target in "${targets[@]}"; do
    set -- $target
    throughput+=("$(run "$1" "$2" "$scenario" "$connections")")
  done
done
latency=()
for target in "${targets[@]}"; do
  set -- $target
  latency+=("$(run "$1" "$2" get 1)")
done
proxy_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$proxy_pid/status)
if [ -n "${BASELINE_REF:-}" ]; then git worktree remove --force "$work/baseline-src" >/dev/null 2>&1 || true; fi

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
report="$out/inbound-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "Run $stamp on $(nproc) cores ($(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2}')); wrk -t1 on CPU 0, all servers on CPU 1; ${duration}s per run after ${warmup}s proxy warm-up."
  echo
  echo "Throughput, $connections connections (GET event; PUT send with a 1 KiB JSON body):"
  echo
  echo "| scenario | target | requests/s | vs nginx (Synapse docs) | vs best keep-alive peer | p50 ms | p99 ms | non-2xx |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for scenario in get put; do
    nrps=$(printf '%s\n' "${throughput[@]}" | awk -v s=$scenario '$1=="nginx" && $2==s {print $3}')
    karps=$(printf '%s\n' "${throughput[@]}" | awk -v s=$scenario '($1=="nginx-ka" || $1=="haproxy-ka") && $2==s && $3>m {m=$3} END {print m}')
    printf '%s\n' "${throughput[@]}" | awk -v s=$scenario -v nr="$nrps" -v kr="$karps" \
      '$2==s { printf "| %s | %s | %.0f | %.2f | %.2f | %s | %s | %s |\n", $2, $1, $3, $3/nr, $3/kr, $4, $5, $6 }'
  done
  echo
  echo "Latency, 1 connection (sequential GETs; added = target minus direct):"
  echo
  echo "| target | requests/s | p50 ms | p99 ms | added p50 ms | added p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|"
  d50=$(printf '%s\n' "${latency[@]}" | awk '$1=="direct" {print $4}')
  d99=$(printf '%s\n' "${latency[@]}" | awk '$1=="direct" {print $5}')
  printf '%s\n' "${latency[@]}" | awk -v da="$d50" -v db="$d99" \
    '{ printf "| %s | %.0f | %s | %s | %s | %s |\n", $1, $3, $4, $5, ($1=="direct" ? "-" : sprintf("%.3f", $4-da)), ($1=="direct" ? "-" : sprintf("%.3f", $5-db)) }'
  echo
  echo "Proxy peak RSS over the whole run: $((proxy_rss_kb / 1024)) MiB."
} | tee "$report"
