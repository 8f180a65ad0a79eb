#!/usr/bin/env bash
# Builds the Debian chroot with Synapse and matrix-nio for the end-to-end tests (tests/MessengerProxy.Tests/EndToEnd),
# once: it is cached in $MP_E2E_CACHE (default /var/cache/messengerproxy-e2e)/<key>, where <key> is the start of
# the SHA-256 of synapse-chroot.txt, so a changed package list builds a new one. Prints the chroot's path.
#   provision-synapse.sh                 build or reuse; fails when it cannot
#   provision-synapse.sh --if-possible   the same, but without root or mmdebstrap, or when the build fails, it
#                                        says why and exits 0: the tests then skip with that reason
# Needs root (mmdebstrap, chroot) and a Debian mirror ($MP_E2E_MIRROR, default http://deb.debian.org/debian).
# The tests never change the chroot: they mount /proc, their run folder (at /e2e), hosts and resolv.conf in
# private mount namespaces of their own processes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
manifest="$here/synapse-chroot.txt"
cache=${MP_E2E_CACHE:-/var/cache/messengerproxy-e2e}
mirror=${MP_E2E_MIRROR:-http://deb.debian.org/debian}
lenient=false
[ "${1:-}" = "--if-possible" ] && lenient=true

key=$(sha256sum "$manifest" | cut -c1-16)
root="$cache/$key"
if [ -f "$root/.ready" ]; then
  echo "$root"
  exit 0
fi

give_up() {
  echo "provision-synapse: $1; the end-to-end tests will be skipped" >&2
  if [ -d "$cache" ] && [ -w "$cache" ]; then
    printf '%s\n' "$1" >"$cache/$key.failed"
  fi
  if $lenient; then exit 0; else exit 1; fi
}

[ "$(id -u)" -eq 0 ] || give_up "not root (mmdebstrap and chroot need root)"
command -v mmdebstrap >/dev/null || give_up "mmdebstrap is not installed (apt-get install mmdebstrap)"

suite=$(awk '$1 == "suite" { print $2 }' "$manifest")
packages=$(awk '$1 == "packages" { $1 = ""; print }' "$manifest" | xargs | tr ' ' ',')
mkdir -p "$cache"
# Several checkouts may run the tests at once: one builds, the others wait and reuse.
exec 9>"$cache/.lock"
flock 9
if [ -f "$root/.ready" ]; then
  echo "$root"
  exit 0
fi

work="$cache/$key.building"
rm -rf "$work"
echo "provision-synapse: building $root ($suite: $packages) from $mirror" >&2
# The archive's Release file may be past its Valid-Until date on snapshot mirrors; the packages are still signed.
if ! mmdebstrap --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' --include="$packages" \
    "$suite" "$work" "$mirror" >"$cache/$key.log" 2>&1; then
  rm -rf "$work"
  give_up "mmdebstrap failed (log: $cache/$key.log): $(tail -n 3 "$cache/$key.log" | tr '\n' ' ')"
fi
# The tests bind-mount their run folder here.
mkdir -p "$work/e2e"
if ! versions=$(chroot "$work" python3 -c 'import synapse, nio, olm, psycopg2, importlib.metadata as m; print("synapse", synapse.__version__, "matrix-nio", m.version("matrix-nio"))' 2>&1); then
  rm -rf "$work"
  give_up "the chroot cannot import synapse, nio, olm and psycopg2: $versions"
fi
echo "$versions" >"$work/.ready"
rm -rf "$root" "$cache/$key.failed"
mv "$work" "$root"
echo "provision-synapse: ready ($versions)" >&2
echo "$root"
