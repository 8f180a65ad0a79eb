using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MessengerProxy.Registration.Vzd;

/// <summary>
/// Readiness detail: whether the service holds a VZD token, and why the last authentication failed. A failure is
/// DEGRADED, not DOWN: the service keeps serving the list it has, and an operator must still reach it.
/// </summary>
internal sealed class VzdAuthenticationHealthCheck(VzdTokenSource tokens) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!tokens.IsConfigured)
        {
            return Task.FromResult(HealthCheckResult.Healthy("client credentials not configured"));
        }

        var status = tokens.Status;
        var data = new Dictionary<string, object>();
        if (status.IssuedAt is { } issued)
        {
            data["issuedAt"] = issued.ToString("O");
            data["renewAt"] = status.RenewAt!.Value.ToString("O");
        }

        if (status.FailedAt is { } failed && (status.IssuedAt is null || failed >= status.IssuedAt))
        {
            data["failedAt"] = failed.ToString("O");
            data["reason"] = VzdAuthenticationException.Label(status.Failure!.Value);
            return Task.FromResult(HealthCheckResult.Degraded($"the last VZD authentication failed: {status.FailureDetail}", data: data));
        }

        return Task.FromResult(status.IssuedAt is null
            ? HealthCheckResult.Healthy("no VZD token requested yet")
            : HealthCheckResult.Healthy("VZD token held", data));
    }
}
