#!/usr/bin/env bash
# Runs the whole test suite (unit and functional tests, real Kestrel hosts on loopback, curl as a client, and
# end-to-end tests with real Synapse homeservers federating through the proxies).
# Extra arguments go to the test runner, e.g. ./test.sh -- --filter-class "*RejectionTests".
set -euo pipefail
cd "$(dirname "$0")"
# The npm coap package (an independent CoAP implementation) for the front door's interop tests.
[ -d tests/node/node_modules ] || npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
# The Debian chroot with Synapse and matrix-nio for the end-to-end tests: built once as root (mmdebstrap, about
# 2 minutes) and cached; where that is impossible the script says why and those tests are skipped with the reason.
tools/e2e/provision-synapse.sh --if-possible >/dev/null
dotnet build MessengerProxy.sln --configuration Release
# A hung test fails the run once it has lasted 15 minutes (the whole suite takes a few), and the names of the
# tests still running then are printed, instead of the run waiting for CI's own limit.
results=$PWD/TestResults
rm -f "$results"/*_hang.log "$results"/*_hang.dmp
status=0
dotnet test --solution MessengerProxy.sln --configuration Release --no-build \
  --results-directory "$results" --hangdump --hangdump-timeout 15m --hangdump-type Mini "$@" || status=$?
for log in "$results"/*_hang.log; do
  [ -f "$log" ] || continue
  echo "tests still running when the run was declared hung ($log):" >&2
  cat "$log" >&2
done
exit "$status"
