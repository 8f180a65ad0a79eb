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
dotnet test --solution MessengerProxy.sln --configuration Release --no-build "$@"
