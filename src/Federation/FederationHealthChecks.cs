using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Federation;

/// <summary>
/// Readiness: a federation list is in force and not older than the maximum age (otherwise federation is refused).
/// A signed list that was refused since shows as DEGRADED with its reason code (<c>refused</c>): the previous
/// list stays in force, but an operator should look (a forgery, a revoked signer, an unreachable OCSP responder).
/// </summary>
internal sealed class FederationListHealthCheck(FederationListCache cache, TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!cache.Enforced)
        {
            return Task.FromResult(HealthCheckResult.Healthy("federation checks are disabled (Federation:Enforce=false)"));
        }

        var refusal = cache.LastRefusal;
        var refused = refusal is null ? string.Empty : $"; the last signed list offered was refused ({refusal.Code})";
        if (cache.Current is not { } list || cache.ConfirmedAt is not { } confirmedAt)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("no federation list loaded; federation requests are refused" + refused,
                data: refusal is null ? null : new Dictionary<string, object> { ["refused"] = refusal.Code, ["refusedAt"] = refusal.At.ToString("O") }));
        }

        var age = time.GetUtcNow() - confirmedAt;
        var data = new Dictionary<string, object>
        {
            ["version"] = list.Version,
            ["domains"] = list.Count,
            ["confirmedAt"] = confirmedAt.ToString("O"),
            ["ageSeconds"] = (long)age.TotalSeconds,
            ["signed"] = list.IsSigned,
        };
        if (refusal is not null)
        {
            data["refused"] = refusal.Code;
            data["refusedAt"] = refusal.At.ToString("O");
        }

        return Task.FromResult(age > cache.MaxAge
            ? HealthCheckResult.Unhealthy($"federation list version {list.Version} is outdated (older than {cache.MaxAge}); federation requests are refused{refused}", data: data)
            : refusal is not null
                ? HealthCheckResult.Degraded($"federation list version {list.Version} with {list.Count} domains stays in force{refused}", data: data)
                : HealthCheckResult.Healthy($"federation list version {list.Version} with {list.Count} domains", data));
    }
}

/// <summary>
/// Readiness detail: whether the registration service answered the last poll. A failing service is reported
/// as degraded, not unhealthy: the proxy keeps serving from its last good list until that is too old.
/// </summary>
internal sealed class RegistrationServiceHealthCheck(FederationListCache cache, IOptions<FederationOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["url"] = options.Value.RegistrationServiceUrl ?? string.Empty };
        if (cache.LastContact is { } contact)
        {
            data["lastContact"] = contact.ToString("O");
        }

        if (string.IsNullOrEmpty(options.Value.RegistrationServiceUrl))
        {
            return Task.FromResult(cache.Enforced
                ? HealthCheckResult.Unhealthy("Federation:RegistrationServiceUrl is not configured", data: data)
                : HealthCheckResult.Healthy("not configured, federation checks are disabled", data));
        }

        return Task.FromResult(cache.LastError is { } error
            ? HealthCheckResult.Degraded("registration service unreachable: " + error, data: data)
            : cache.LastContact is null
                ? HealthCheckResult.Degraded("registration service not contacted yet", data: data)
                : HealthCheckResult.Healthy("registration service reachable", data));
    }
}
