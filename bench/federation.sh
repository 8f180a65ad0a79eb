#!/usr/bin/env bash
# Federation list benchmarks: look-up cost per check and build/swap cost of a 100 000-domain list
# (BenchmarkDotNet), then look-up throughput while lists are swapped in continuously.
# Usage: bench/federation.sh        Results: BenchmarkDotNet.Artifacts/results/ and stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet run --project bench/FederationBench/MessengerProxy.FederationBench.csproj --configuration Release -- --filter '*' --join
DOTNET_gcServer=1 dotnet run --project bench/FederationBench/MessengerProxy.FederationBench.csproj --configuration Release --no-build -- --swap
