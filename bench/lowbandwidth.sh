#!/usr/bin/env bash
# The low-bandwidth front door on the wire, in one run on loopback against the same stand-in homeserver:
#   - MSC3079's scenario (send one "Hello World" m.room.message, receive the answer), counted in datagrams
#     and bytes: CoAP+CBOR over DTLS 1.2 through the front door, (a) including the DTLS handshake and (b) on
#     the established association (a UDP counting relay between client and front door); against
#     HTTP/1.1 and HTTP/2 over TLS with JSON to the inbound proxy, (a) new connection, (b) reused
#     connection (tcpdump on loopback, packets and IP bytes, TCP handshake and teardown included in (a)).
#   - full DTLS handshakes per second (BouncyCastle clients on the same machine);
#   - CBOR ⇄ JSON conversion throughput of a 200-event /sync (BenchmarkDotNet).
# The stand-in homeserver is nginx answering the send with {"event_id":"$YUwRidLecu:example.com"}, as Synapse does.
# Usage: bench/lowbandwidth.sh [handshake-seconds] [handshake-clients]   (defaults 10 4)
# Writes bench/out/lowbandwidth-<timestamp>.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
hs_seconds=${1:-10}
hs_clients=${2:-4}
. bench/common.sh
need nginx nginx-light
need tcpdump tcpdump
need curl curl
need openssl openssl

out=bench/out
work=$(mktemp -d /tmp/mp-lowbandwidth.XXXXXX)
chmod 755 "$work"
mkdir -p "$out"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

log "certificates and stand-in homeserver"
certificates/create-dtls-cert.sh "$work" localhost >/dev/null
hs=$(free_port)
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy-temp;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  # nginx has no escape for a literal dollar sign; a variable holding one does it.
  geo \$dollar { default "\$"; }
  server {
    listen 127.0.0.1:$hs;
    location / { default_type application/json; return 200 '{"event_id":"\${dollar}YUwRidLecu:example.com"}'; }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)

log "building (Release)"
dotnet publish src/Host/Host.csproj -c Release -o "$work/proxy" >"$work/publish.log" 2>&1 || { cat "$work/publish.log" >&2; exit 1; }
dotnet build bench/LowBandwidthBench -c Release -o "$work/bench" >"$work/bench-build.log" 2>&1 || { cat "$work/bench-build.log" >&2; exit 1; }

inbound=$(free_port); health=$(free_port); dtls=$(free_udp_port)
dotnet "$work/proxy/MessengerProxy.dll" \
  --Inbound:HomeserverUrl=http://127.0.0.1:$hs --Inbound:BindAddress=127.0.0.1 --Inbound:Port=$inbound \
  --Inbound:TlsCertificatePath=$work/dtls.crt --Inbound:TlsKeyPath=$work/dtls.key \
  --Health:BindAddress=127.0.0.1 --Health:Port=$health --Outbound:Enabled=false --TimInformation:Enabled=false --Federation:Enforce=false \
  --LowBandwidth:Enabled=true --LowBandwidth:BindAddress=127.0.0.1 --LowBandwidth:Port=$dtls \
  --LowBandwidth:CertificatePath=$work/dtls.crt --LowBandwidth:KeyPath=$work/dtls.key \
  --Logging:LogLevel:Default=Warning >"$work/proxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$health/actuator/health/liveness")" = 200 ] && break
  sleep 0.1
done

token=syt_YWxpY2U_bowJmlBnsnEWRmtoPfiY_0Ww6Xy
send_path='/_matrix/client/v3/rooms/!room:example.org/send/m.room.message'
body='{"msgtype":"m.text","body":"Hello World"}'
results=$work/results.jsonl
: >"$results"

log "CoAP over DTLS: warm-up, then counted"
bench() { dotnet "$work/bench/MessengerProxy.LowBandwidthBench.dll" "$@"; }
bench --wire "$dtls" "$work/dtls.crt" "$token" >/dev/null      # JIT warm-up of both ends
bench --wire "$dtls" "$work/dtls.crt" "$token" >>"$results"

# count <label> <command...>: packets and IP bytes on the inbound TLS port while the command runs.
count() {
  local label=$1; shift
  tcpdump -i lo -n -w "$work/$label.pcap" "tcp port $inbound" 2>"$work/tcpdump.log" &
  local dump=$!
  sleep 1
  "$@" >/dev/null 2>&1
  sleep 1
  kill -INT $dump; wait $dump 2>/dev/null || true
  python3 - "$work/$label.pcap" "$label" >>"$results" <<'PY'
import json, struct, sys
path, label = sys.argv[1], sys.argv[2]
data = open(path, 'rb').read()
magic = struct.unpack('<I', data[:4])[0]
endian = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
linktype = struct.unpack(endian + 'I', data[20:24])[0]
offset, packets, ip_bytes, up, down = 24, 0, 0, [0, 0], [0, 0]
while offset + 16 <= len(data):
    _, _, incl, _ = struct.unpack(endian + 'IIII', data[offset:offset + 16])
    frame = data[offset + 16: offset + 16 + incl]
    offset += 16 + incl
    ip = frame[14:] if linktype == 1 else frame[16:] if linktype == 113 else frame
    if len(ip) < 20 or ip[0] >> 4 != 4:
        continue
    length = struct.unpack('>H', ip[2:4])[0]
    header = (ip[0] & 15) * 4
    sport, dport = struct.unpack('>HH', ip[header:header + 4])
    packets += 1; ip_bytes += length
    side = down if sport == int(sys.argv[2].split('@')[1]) else up
    side[0] += 1; side[1] += length
print(json.dumps({"Phase": label.split('@')[0], "Packets": packets, "IpBytes": ip_bytes, "Up": up, "Down": down}))
PY
}
curl_send() { # <http version flag> <count of requests>
  local version=$1 n=$2 args=()
  for i in $(seq "$n"); do
    [ "$i" -gt 1 ] && args+=(--next)
    args+=("$version" -s -o /dev/null --cacert "$work/dtls.crt" -X PUT -H "Authorization: Bearer $token"
      -H 'Content-Type: application/json' --data "$body" "https://localhost:$inbound$send_path/txn$RANDOM$i")
  done
  curl "${args[@]}"
}
log "HTTP over TLS: warm-up, then counted"
curl_send --http1.1 1
count "http1-tls-new@$inbound" curl_send --http1.1 1
count "http1-tls-two@$inbound" curl_send --http1.1 2
count "http2-tls-new@$inbound" curl_send --http2 1
count "http2-tls-two@$inbound" curl_send --http2 2

log "DTLS handshakes per second: $hs_clients clients for $hs_seconds s"
bench --handshakes "$dtls" "$work/dtls.crt" 2 1 >/dev/null
bench --handshakes "$dtls" "$work/dtls.crt" "$hs_seconds" "$hs_clients" >>"$results" || true

log "CBOR conversion (BenchmarkDotNet)"
# BenchmarkDotNet builds its own host from the project, so it runs from the source tree (as bench/federation.sh).
dotnet run --project bench/LowBandwidthBench/MessengerProxy.LowBandwidthBench.csproj --configuration Release -- \
  --filter '*' --memory --artifacts "$work/bdn" >"$work/bdn.log" 2>&1 || true
bdn=$(ls "$work"/bdn/results/*-report-github.md 2>/dev/null | head -1 || true)
sizes=$(grep -m1 '^// sync JSON' "$work/bdn.log" || true)

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
report="$out/lowbandwidth-$(date -u +%Y%m%dT%H%M%SZ).md"
python3 - "$results" "$stamp" "$(nproc)" "$(git rev-parse --short HEAD)" >"$report" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {r["Phase"]: r for r in rows}
print(f"Run {sys.argv[2]} on {sys.argv[3]} cores, messenger proxy {sys.argv[4]}, loopback.")
print()
print("Send one \"Hello World\" m.room.message (PUT …/send/m.room.message/{txnId}, access token, JSON body "
      "`{\"msgtype\":\"m.text\",\"body\":\"Hello World\"}`) and receive the answer (`{\"event_id\":…}`):")
print()
print("| transport | case | packets (up / down) | bytes on the wire, IP (up / down) |")
print("|---|---|---:|---:|")
def coap(phase, case):
    r = by.get(phase)
    if not r: return
    u, d = r["Up"], r["Down"]
    print(f"| CoAP + CBOR over DTLS 1.2 | {case} | {u['Datagrams'] + d['Datagrams']} ({u['Datagrams']} / {d['Datagrams']}) | {u['IpBytes'] + d['IpBytes']} ({u['IpBytes']} / {d['IpBytes']}) |")
coap("coap-dtls-handshake", "(a) with the DTLS handshake")
coap("coap-dtls-established", "(b) established association")
for proto, name in (("http1", "HTTP/1.1 + JSON over TLS 1.3"), ("http2", "HTTP/2 + JSON over TLS 1.3")):
    new, two = by.get(f"{proto}-tls-new"), by.get(f"{proto}-tls-two")
    if new:
        print(f"| {name} | (a) new TCP + TLS connection, closed after | {new['Packets']} ({new['Up'][0]} / {new['Down'][0]}) | {new['IpBytes']} ({new['Up'][1]} / {new['Down'][1]}) |")
    if new and two:
        p = [two['Up'][0] - new['Up'][0], two['Down'][0] - new['Down'][0]]
        b = [two['Up'][1] - new['Up'][1], two['Down'][1] - new['Down'][1]]
        print(f"| {name} | (b) one more request on the open connection | {p[0] + p[1]} ({p[0]} / {p[1]}) | {b[0] + b[1]} ({b[0]} / {b[1]}) |")
print()
for phase in ("coap-dtls-handshake", "coap-dtls-established"):
    r = by.get(phase)
    if r:
        print(f"{phase}: datagram sizes (UDP payload) up {r['Up']['Sizes']}, down {r['Down']['Sizes']}")
print()
h = by.get("handshakes")
if h:
    print(f"DTLS handshakes: {h['PerSecond']} per second ({h['Completed']} in {h['Seconds']} s, {h['Clients']} concurrent BouncyCastle clients on the same 2 cores, {h['Failed']} failed).")
PY
{
  echo
  [ -n "$sizes" ] && echo "$sizes" | sed 's#^// ##'
  echo
  if [ -n "$bdn" ]; then
    echo "CBOR ⇄ JSON conversion of that /sync (BenchmarkDotNet, default job):"
    echo
    sed -n '/^|/,$p' "$bdn"
  else
    echo "BenchmarkDotNet did not produce a report:"; tail -5 "$work/bdn.log"
  fi
} >>"$report"
cat "$report"
