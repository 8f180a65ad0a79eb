#!/usr/bin/env bash
# Outbound (forward proxy with TLS interception) throughput, latency and certificate minting, all in one
# run on loopback against the same upstream:
#   direct     client -> upstream over TLS, no proxy (reference)
#   mitmproxy  client -> mitmdump (CONNECT, TLS interception) -> upstream
#   squid      client -> squid ssl-bump (CONNECT, bump all, security_file_certgen) -> upstream
#   ours       client -> messenger proxy outbound listener -> upstream
# The upstream is nginx serving HTTPS for remote.test (and *.remote.test) with a certificate of a test CA
# made here, answering GET /_matrix/federation/v1/version with a fixed small JSON body. Every proxy trusts
# that test CA for the upstream and intercepts with the proxy CA from certificates/create-ca.sh, which is
# what the client trusts. The client is bench/OutboundLoad (raw sockets + SslStream, the same for every
# target). It runs on CPU 0; nginx and the proxy under test run on CPU 1, one proxy at a time.
#
# Modes: "new tunnel per request" = TCP + CONNECT + TLS handshake + one GET, then close (latency includes
#        all of it); "keep-alive" = one tunnel per worker for the whole run.
# Minting: sequentially, a fresh tunnel + one GET to each of N names never seen before (the proxy makes a
#        leaf certificate), then to the same N names again (cached leaf).
#
# Name resolution: every peer must send remote.test and h<i>.remote.test to 127.0.0.1 without touching
# /etc/hosts: ours via --Outbound:HostAddresses:<name>=127.0.0.1, squid via its hosts_file directive,
# mitmproxy (which only has the system resolver) in a private mount namespace where a private hosts file
# is bind-mounted over /etc/hosts (unshare --mount; falls back to CONNECT 127.0.0.1:<port> + SNI when
# that is not possible). The client sends the same CONNECT line, TLS server name and Host to every proxy.
#
# Usage: bench/outbound.sh [seconds-per-run] [concurrency] [proxy-warm-up-seconds] [minting-names]
#        (defaults: 10 32 60 50). Environment: TARGETS="direct mitmproxy squid ours" to pick targets;
#        TIMELINE=1 prints requests/s for every second of the warm-up run (to see when the JIT is done).
# Writes bench/out/outbound-<timestamp>.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
concurrency=${2:-32}
warmup=${3:-60}
mint=${4:-50}                 # mitmproxy keeps at most 100 leaf certificates (certs.py STORE_CAP), so stay below
targets=${TARGETS:-direct mitmproxy squid ours}
settle=3                      # client warm-up before runs after the first one of a target

. bench/common.sh
need nginx nginx-light
need mitmdump mitmproxy
need taskset util-linux
need curl curl
need openssl openssl
# squid with TLS support (the plain squid package has no ssl-bump); Debian starts its own system squid on
# install where services may start, which idles on port 3128 and does not take part.
[ -x /usr/lib/squid/security_file_certgen ] || need /usr/lib/squid/security_file_certgen squid-openssl

out=bench/out
work=$(mktemp -d /tmp/mp-outbound.XXXXXX)
chmod 755 "$work"               # squid drops to the proxy user and must reach its files below
mkdir -p "$out"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

up=$(free_port); uphttp=$(free_port)
names=(remote.test); for i in $(seq 1 "$mint"); do names+=("h$i.remote.test"); done
notes=()

# --- certificates ---------------------------------------------------------------------------------------
log "certificates"
certificates/create-ca.sh "$work/ca" >/dev/null                       # proxy CA (ECDSA P-256)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench-upstream-ca \
  -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$work/upca.key" -out "$work/upca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=remote.test \
  -keyout "$work/remote.key" -out "$work/remote.csr" 2>/dev/null
printf '%s\n' 'basicConstraints=critical,CA:false' 'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' \
  'subjectAltName=DNS:remote.test,DNS:*.remote.test,IP:127.0.0.1' >"$work/remote.ext"
openssl x509 -req -in "$work/remote.csr" -CA "$work/upca.crt" -CAkey "$work/upca.key" -CAcreateserial -days 2 \
  -extfile "$work/remote.ext" -out "$work/remote.crt" 2>/dev/null
for n in "${names[@]}"; do echo "127.0.0.1 $n"; done >"$work/hosts"
{ cat /etc/hosts; cat "$work/hosts"; } >"$work/hosts.mitm"

# --- upstream -------------------------------------------------------------------------------------------
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy-temp;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  # The remote homeserver: HTTPS, a fixed small JSON answer.
  server {
    listen 127.0.0.1:$up ssl;
    ssl_certificate $work/remote.crt;
    ssl_certificate_key $work/remote.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /_matrix/federation/v1/version { default_type application/json; return 200 '{"server":{"name":"Synapse","version":"1.119.0"}}'; }
    location / { return 404; }
  }
  # Plain HTTP stand-in for the local homeserver (ours needs an Inbound:HomeserverUrl).
  server {
    listen 127.0.0.1:$uphttp;
    location / { default_type application/json; return 200 '{}'; }
  }
}
EOF
taskset -c 1 nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)

# --- client ---------------------------------------------------------------------------------------------
log "building the load generator"
dotnet build bench/OutboundLoad/MessengerProxy.OutboundLoad.csproj -c Release -o "$work/load" >"$work/load-build.log" 2>&1 ||
  { cat "$work/load-build.log" >&2; exit 1; }
# Inline socket completions: continuations run on the epoll thread, no thread-pool hop (the client has one
# core; this nearly doubles what it can send over keep-alive tunnels). Only the client gets this setting.
load() { DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 taskset -c 0 dotnet "$work/load/MessengerProxy.OutboundLoad.dll" "$@"; }

for _ in $(seq 100); do
  curl -sf -o /dev/null --cacert "$work/upca.crt" --resolve "remote.test:$up:127.0.0.1" "https://remote.test:$up/_matrix/federation/v1/version" && break
  sleep 0.1
done

ours_available=0
if [[ " $targets " == *" ours "* ]]; then
  log "publishing the messenger proxy (Release)"
  if dotnet publish src/Host/Host.csproj -c Release -o "$work/proxy" >"$work/publish.log" 2>&1; then
    ours_available=1
  else
    notes+=("ours: not available, \`dotnet publish src/Host -c Release\` failed: $(grep -m1 -E 'error' "$work/publish.log" | sed 's/^ *//' | cut -c1-300)")
  fi
fi

# --- targets --------------------------------------------------------------------------------------------
# start_<target> starts the server in the background, sets proxy (ip:port) and server_pid, and returns
# non-zero with a reason in $why when it cannot run.
proxy=""; server_pid=""; why=""; tunnel_args=()

start_direct() { proxy=""; server_pid=""; }

start_mitmproxy() {
  local port; port=$(free_port)
  mkdir -p "$work/mitm"
  cat "$work/ca/ca.key" "$work/ca/ca.crt" >"$work/mitm/mitmproxy-ca.pem"
  local args=(mitmdump -q --listen-host 127.0.0.1 --listen-port "$port" --set confdir="$work/mitm"
    --set ssl_verify_upstream_trusted_ca="$work/upca.crt" --set connection_strategy=lazy
    --set flow_detail=0 --set termlog_verbosity=error)
  if unshare --mount sh -c "mount --bind $work/hosts.mitm /etc/hosts" 2>/dev/null; then
    taskset -c 1 unshare --mount sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$work/hosts.mitm" "${args[@]}" \
      >"$work/mitmproxy.log" 2>&1 &
  else
    notes+=("mitmproxy: no private mount namespace here, so the client sends CONNECT 127.0.0.1:$up (TLS server name and Host still remote.test)")
    tunnel_args=(--tunnel-host 127.0.0.1)
    taskset -c 1 "${args[@]}" >"$work/mitmproxy.log" 2>&1 &
  fi
  server_pid=$!; pids+=($server_pid); proxy=127.0.0.1:$port
}

start_squid() {
  local port; port=$(free_port)
  local dir=$work/squid
  mkdir -p "$dir"
  cat "$work/ca/ca.crt" "$work/ca/ca.key" >"$dir/ca.pem"
  cp "$work/upca.crt" "$dir/upstream-ca.crt"
  cp "$work/hosts" "$dir/hosts"
  /usr/lib/squid/security_file_certgen -c -s "$dir/ssl_db" -M 16MB >"$dir/certgen-init.log" 2>&1 ||
    { why="security_file_certgen -c failed: $(tail -1 "$dir/certgen-init.log")"; return 1; }
  local user=""
  if [ "$(id -u)" = 0 ]; then
    user="cache_effective_user proxy"
    chown -R proxy:proxy "$dir"
  fi
  cat >"$dir/squid.conf" <<EOF
# squid 5 as a TLS-intercepting forward proxy; no cache, no logs.
http_port 127.0.0.1:$port ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=16MB tls-cert=$dir/ca.pem
sslcrtd_program /usr/lib/squid/security_file_certgen -s $dir/ssl_db -M 16MB
sslcrtd_children 8 startup=1 idle=1
ssl_bump bump all
tls_outgoing_options cafile=$dir/upstream-ca.crt
hosts_file $dir/hosts
dns_nameservers 127.0.0.1
http_access allow all
cache deny all
cache_mem 0 MB
$user
pid_filename $dir/squid.pid
cache_log $dir/cache.log
access_log none
cache_store_log none
logfile_rotate 0
coredump_dir $dir
netdb_filename none
pinger_enable off
max_filedescriptors 16384
shutdown_lifetime 1 second
EOF
  squid -k parse -f "$dir/squid.conf" >"$dir/parse.log" 2>&1 || { why="squid -k parse: $(grep -m1 -iE 'error|fatal' "$dir/parse.log")"; return 1; }
  taskset -c 1 squid -N -f "$dir/squid.conf" >"$dir/stdout.log" 2>&1 &
  server_pid=$!; pids+=($server_pid); proxy=127.0.0.1:$port
}

start_ours() {
  [ "$ours_available" = 1 ] || { why="build failed (see notes)"; return 1; }
  local port health inbound; port=$(free_port); health=$(free_port); inbound=$(free_port)
  local args=(
    "--Inbound:HomeserverUrl=http://127.0.0.1:$uphttp" "--Inbound:BindAddress=127.0.0.1" "--Inbound:Port=$inbound"
    "--Health:BindAddress=127.0.0.1" "--Health:Port=$health"
    "--Outbound:BindAddress=127.0.0.1" "--Outbound:Port=$port"
    "--Outbound:CaCertificatePath=$work/ca/ca.crt" "--Outbound:CaKeyPath=$work/ca/ca.key"
    "--Outbound:TrustedCaPaths:0=$work/upca.crt" "--Outbound:AllowedNetworks:0=127.0.0.0/8"
    "--Outbound:AllowedPorts:0=$up"
    "--Federation:Enforce=false" "--TimInformation:Enabled=false" "--Logging:LogLevel:Default=Warning")
  for n in "${names[@]}"; do args+=("--Outbound:HostAddresses:$n=127.0.0.1"); done
  printf '%q ' taskset -c 1 dotnet "$work/proxy/MessengerProxy.dll" "${args[@]}" >"$work/ours.cmd"
  taskset -c 1 dotnet "$work/proxy/MessengerProxy.dll" "${args[@]}" >"$work/ours.log" 2>&1 &
  server_pid=$!; pids+=($server_pid); proxy=127.0.0.1:$port
  local i
  for i in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$health/actuator/health/liveness")" = 200 ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  why="liveness http://127.0.0.1:$health/actuator/health/liveness not 200 within 60 s: $(grep -m1 -iE 'fail|error|exception' "$work/ours.log" | cut -c1-300)"
  return 1
}

# smoke <target>: one request through the proxy with curl (30 s), so startup problems show as a reason.
smoke() {
  local i err=""
  for i in $(seq 150); do
    if [ -z "$proxy" ]; then
      err=$(curl -sS -o /dev/null --cacert "$work/upca.crt" --resolve "remote.test:$up:127.0.0.1" \
        "https://remote.test:$up/_matrix/federation/v1/version" 2>&1) && return 0
    else
      err=$(curl -sS -o /dev/null --proxy "http://$proxy" --cacert "$work/ca/ca.crt" --resolve "remote.test:$up:127.0.0.1" \
        "https://remote.test:$up/_matrix/federation/v1/version" 2>&1) && return 0
    fi
    [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null && { why="exited: $err"; return 1; }
    sleep 0.2
  done
  why="no answer within 30 s: $err"
  return 1
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  local kids; kids=$(pgrep -P "$server_pid" 2>/dev/null || true)   # squid's certificate helpers
  kill "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  for p in $kids; do kill "$p" 2>/dev/null || true; done
}

peak_rss_mib() {   # main process plus its children (squid's helpers)
  local total=0 p kb
  for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
    kb=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  echo $((total / 1024))
}

results=$work/results.jsonl
: >"$results"
for t in $targets; do
  proxy=""; server_pid=""; why=""; tunnel_args=()
  log "$t: starting"
  if ! "start_$t" || ! smoke; then
    log "$t: not available: $why"
    notes+=("$t: not available: $why")
    stop_server "$t"
    echo "{\"Label\":\"$t\",\"Unavailable\":true}" >>"$results"
    continue
  fi
  if [ -n "$proxy" ]; then common=(--proxy "$proxy" --ca "$work/ca/ca.crt"); else common=(--connect-address 127.0.0.1 --ca "$work/upca.crt"); fi
  common+=(--target "remote.test:$up" "${tunnel_args[@]}" --label "$t")
  first_warmup=$settle; [ -n "$proxy" ] && first_warmup=$warmup
  log "$t: new tunnel per request, ${first_warmup}s warm-up + ${duration}s"
  timeline=(); [ -n "${TIMELINE:-}" ] && timeline=(--timeline)   # requests per second, every second, on stderr
  load "${common[@]}" --concurrency "$concurrency" --duration "$duration" --warmup "$first_warmup" --requests-per-tunnel 1 "${timeline[@]}" >>"$results"
  log "$t: keep-alive tunnels, ${settle}s warm-up + ${duration}s"
  load "${common[@]}" --concurrency "$concurrency" --duration "$duration" --warmup "$settle" --requests-per-tunnel 0 >>"$results"
  log "$t: minting, $mint new names then the same again"
  load "${common[@]}" --mint-count "$mint" >>"$results"
  [ -n "$server_pid" ] && echo "{\"Label\":\"$t\",\"PeakRssMiB\":$(peak_rss_mib "$server_pid")}" >>"$results"
  stop_server "$t"
done

# --- report ---------------------------------------------------------------------------------------------
ours_version="not built"
[ "$ours_available" = 1 ] && ours_version="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src 2>/dev/null || echo '+uncommitted changes')"
versions=$(cat <<EOF
- nginx (upstream): $(nginx -v 2>&1 | sed 's/.*: //'), $(openssl version)
- mitmproxy: $(mitmdump --version 2>/dev/null | awk '/Mitmproxy:/ {print $2}') (Debian $(dpkg-query -W -f '${Version}' mitmproxy 2>/dev/null)), Python $(mitmdump --version 2>/dev/null | awk '/Python:/ {print $2}')
- squid: $(squid -v | awk 'NR==1 {print $4}') (Debian $(dpkg-query -W -f '${Version}' squid-openssl 2>/dev/null), squid-openssl)
- ours: messenger proxy $ours_version, .NET $(dotnet --version) SDK, Release publish
- client: bench/OutboundLoad (.NET, Socket + SslStream, HTTP/1.1, ALPN http/1.1, no TLS session resumption)
EOF
)
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
report="$out/outbound-$(date -u +%Y%m%dT%H%M%SZ).md"
cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2; exit}')
printf '%s\n' "${notes[@]+"${notes[@]}"}" >"$work/notes.txt"
python3 - "$results" "$work/notes.txt" "$stamp" "$(nproc)" "$cpu" "$duration" "$concurrency" "$warmup" "$settle" "$mint" "$versions" "$work/ours.cmd" >"$report" <<'EOF'
import json, math, os, sys
results, notes_file, stamp, cores, cpu, duration, conc, warmup, settle, mint, versions, ours_cmd = sys.argv[1:]
rows = [json.loads(l) for l in open(results) if l.strip()]
order = []
for r in rows:
    if r["Label"] not in order: order.append(r["Label"])
def f(v, d=2):
    # the client writes NaN (as a string) when no request succeeded
    return "-" if v is None or isinstance(v, str) or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}"
print(f"Run {stamp} on {cores} cores ({cpu}); client on CPU 0, nginx + the proxy under test on CPU 1 (one proxy at a time).")
print(f"{duration} s measured per run, {conc} concurrent workers; each proxy got {warmup} s of warm-up load (new tunnel per request) "
      f"before its first measured run, every run {settle} s of client warm-up. GET /_matrix/federation/v1/version, 49-byte JSON answer.")
print()
for mode, title in (("1-per-tunnel", "New tunnel per request (TCP + CONNECT + TLS handshake + 1 GET + close; latency covers all of it)"),
                    ("keep-alive", "Keep-alive tunnels (one tunnel per worker for the whole run)")):
    print(f"{title}:")
    print()
    print("| target | requests/s | vs direct | p50 ms | p90 ms | p99 ms | errors | CPU 0 (client) busy | CPU 1 (servers) busy | CPU 1 µs per request |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    direct = next((r["Rps"] for r in rows if r["Label"] == "direct" and r.get("Mode") == mode), None)
    for label in order:
        r = next((r for r in rows if r["Label"] == label and r.get("Mode") == mode), None)
        if r is None:
            print(f"| {label} | not available | | | | | | | | |")
            continue
        ratio = f"{r['Rps']/direct:.2f}" if direct else "-"
        err = str(r["Errors"]) + (f" ({r['FirstError']})" if r.get("FirstError") else "")
        cpu = (r.get("CpuBusyPercent") or []) + [None, None]
        per_request = cpu[1] / 100 * r["Seconds"] / r["Requests"] * 1e6 if cpu[1] is not None and r["Requests"] else None
        print(f"| {label} | {r['Rps']:.0f} | {ratio} | {f(r['P50Ms'],3)} | {f(r['P90Ms'],3)} | {f(r['P99Ms'],3)} | {err} | {f(cpu[0],0)} % | {f(cpu[1],0)} % | {f(per_request,0)} |")
    print()
print("A run with CPU 0 near 100 % busy is limited by the client, not by the target: the client spends about 1 ms of CPU per new "
      "tunnel (TCP, CONNECT, TLS 1.3 handshake with two ECDSA verifications, SslStream), more than nginx or squid spend on theirs. "
      "Then compare \"CPU 1 µs per request\": the time CPU 1 (nginx + the proxy; for direct, nginx alone) spent per completed request.")
print()
print(f"Certificate minting: sequential, one fresh tunnel + 1 GET per name; {mint} names h<i>.remote.test never seen by the proxy, then the same {mint} again "
      "(direct: the same requests without a proxy, the floor):")
print()
print("| target | first contact p50 ms | p90 ms | cached name p50 ms | p90 ms | minting cost (p50 difference) ms | errors |")
print("|---|---:|---:|---:|---:|---:|---:|")
for label in order:
    r = next((r for r in rows if r["Label"] == label and "FirstP50Ms" in r), None)
    if r is None:
        print(f"| {label} | not available | | | | | |")
        continue
    err = str(r["Errors"]) + (f" ({r['FirstError']})" if r.get("FirstError") else "")
    print(f"| {label} | {f(r['FirstP50Ms'],3)} | {f(r['FirstP90Ms'],3)} | {f(r['CachedP50Ms'],3)} | {f(r['CachedP90Ms'],3)} | {f(r['FirstP50Ms']-r['CachedP50Ms'] if not isinstance(r['FirstP50Ms'], str) and not isinstance(r['CachedP50Ms'], str) else None,3)} | {err} |")
print()
rss = [(r["Label"], r["PeakRssMiB"]) for r in rows if "PeakRssMiB" in r]
if rss:
    print("Peak RSS of each proxy over its runs (with child processes): " + ", ".join(f"{l} {m} MiB" for l, m in rss) + ".")
    print()
print("Versions:")
print()
print(versions)
notes = [n for n in open(notes_file).read().splitlines() if n.strip()]
if notes:
    print()
    print("Notes:")
    print()
    for n in notes: print(f"- {n}")
if os.path.exists(ours_cmd):
    print()
    print("ours was started as (paths are in the run's temporary folder):")
    print()
    print("```")
    print(open(ours_cmd).read().strip())
    print("```")
EOF
cat "$report"
