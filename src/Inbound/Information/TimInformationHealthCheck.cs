using MessengerProxy.Federation;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MessengerProxy.Inbound.Information;

/// <summary>
/// Readiness detail of the TI-M information API: degraded (not down) when it cannot answer — no usable federation
/// list, or the homeserver failed the last token look-up — since the proxy itself still serves Matrix traffic.
/// </summary>
internal sealed class TimInformationHealthCheck(FederationListCache cache, OpenIdTokenValidator tokens, TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (TimInformationApi.UsableList(cache, time) is not { } list)
        {
            return Task.FromResult(HealthCheckResult.Degraded("no usable federation list: look-ups answer 503"));
        }

        var data = new Dictionary<string, object> { ["listVersion"] = list.Version, ["insuranceIks"] = list.IkCount };
        return Task.FromResult(tokens.LastUnavailable is { } reason
            ? HealthCheckResult.Degraded("tokens cannot be validated: " + reason, data: data)
            : HealthCheckResult.Healthy($"answering from federation list version {list.Version}", data));
    }
}
