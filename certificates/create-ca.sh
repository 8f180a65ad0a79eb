#!/bin/sh
# Creates the proxy CA (ECDSA prime256v1, 10 years) in the given folder (default: this script's folder):
#   ca.key  private key, readable by the owner only
#   ca.crt  certificate, to be trusted by the homeserver (federation_custom_ca_list)
# Does nothing when ca.crt already exists, so it is safe to run at every start.
# CA_KEY_OWNER=<user or uid> hands the key to the user the proxy runs as.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
mkdir -p "$out"
if [ -f "$out/ca.crt" ] && [ -f "$out/ca.key" ]; then
  echo "CA already present in $out"
  exit 0
fi
umask 077
openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca.key"
openssl req -new -x509 -days 3650 -config "$here/ca.conf" -key "$out/ca.key" -out "$out/ca.crt"
chmod 644 "$out/ca.crt"
# The proxy may run as another user than this script (CA_KEY_OWNER: a user name or uid).
if [ -n "${CA_KEY_OWNER:-}" ]; then
  chown "$CA_KEY_OWNER" "$out/ca.key"
fi
echo "created $out/ca.crt ($(openssl x509 -in "$out/ca.crt" -noout -subject))"
