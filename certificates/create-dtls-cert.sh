#!/bin/sh
# Creates a self-signed ECDSA P-256 certificate for the low-bandwidth front door (CoAP over DTLS), for
# local use only; production uses a certificate the phones trust (e.g. an ECDSA one from a public CA):
#   create-dtls-cert.sh [folder] [name] [stem]     (defaults: this script's folder, localhost, dtls)
#   → <stem>.key (owner-only; CA_KEY_OWNER=<user or uid> hands it to the proxy's user) and <stem>.crt
# ECDSA keeps the DTLS handshake small (MSC3079 clients pay for every byte). Does nothing when both exist.
# The compose stack also makes the federation listener's local certificate with it (stem "federation").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
name=${2:-localhost}
stem=${3:-dtls}
mkdir -p "$out"
if [ -f "$out/$stem.crt" ] && [ -f "$out/$stem.key" ]; then
  echo "$stem certificate already present in $out"
  exit 0
fi
umask 077
# Only the subject alternative name: every extension would be sent in every handshake.
config=$(mktemp)
trap 'rm -f "$config"' EXIT
printf '[req]\ndistinguished_name=dn\nx509_extensions=ext\nprompt=no\n[dn]\nCN=%s\n[ext]\nsubjectAltName=DNS:%s\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none\n' "$name" "$name" >"$config"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 -config "$config" \
  -keyout "$out/$stem.key" -out "$out/$stem.crt" 2>/dev/null
chmod 644 "$out/$stem.crt"
if [ -n "${CA_KEY_OWNER:-}" ]; then
  chown "$CA_KEY_OWNER" "$out/$stem.key"
fi
echo "created $out/$stem.crt ($(openssl x509 -in "$out/$stem.crt" -noout -subject))"
