#!/usr/bin/env bash
# Runs the whole test suite (unit and functional tests, real Kestrel hosts on loopback, curl as a client).
# Extra arguments go to the test runner, e.g. ./test.sh -- --filter-class "*RejectionTests".
set -euo pipefail
cd "$(dirname "$0")"
# The npm coap package (an independent CoAP implementation) for the front door's interop tests.
[ -d tests/node/node_modules ] || npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
dotnet build MessengerProxy.sln --configuration Release
dotnet test --solution MessengerProxy.sln --configuration Release --no-build "$@"
