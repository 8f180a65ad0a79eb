using MessengerProxy.Persistence;
using MessengerProxy.Persistence.Federation;
using MessengerProxy.Registration.Configuration;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Registration.Health;

/// <summary>Readiness: the database answers.</summary>
internal sealed class DatabaseHealthCheck(IDbContextFactory<RegistrationDbContext> contextFactory) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var db = await contextFactory.CreateDbContextAsync(cancellationToken);
            return await db.Database.CanConnectAsync(cancellationToken)
                ? HealthCheckResult.Healthy("database reachable")
                : HealthCheckResult.Unhealthy("database unreachable");
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("database unreachable: " + ex.Message);
        }
    }
}

/// <summary>
/// Readiness detail: a federation list is stored, and how old it is. A missing or stale list, or a VZD list
/// refused since (reason code in <c>refused</c>), is reported as degraded, not unhealthy: the service must stay
/// reachable so an operator can import one.
/// </summary>
internal sealed class FederationListHealthCheck(FederationListStore store, FederationListService service, IOptions<RegistrationOptions> options, TimeProvider time) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        FederationListVersionEntityView? latest;
        try
        {
            latest = await store.GetLatestVersionAsync(cancellationToken) is { } v ? new(v.Version, v.CreatedAt, v.DomainCount, v.Source) : null;
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("federation list unknown: database unreachable");
        }

        var refusal = service.LastVzdRefusal;
        var refused = refusal is null ? string.Empty : $"; the VZD's latest list was refused ({refusal.Code})";
        if (latest is null)
        {
            return HealthCheckResult.Degraded("no federation list stored yet" + refused,
                data: refusal is null ? null : new Dictionary<string, object> { ["refused"] = refusal.Code, ["refusedAt"] = refusal.At.ToString("O") });
        }

        var age = time.GetUtcNow() - latest.CreatedAt;
        var data = new Dictionary<string, object>
        {
            ["version"] = latest.Version,
            ["domains"] = latest.DomainCount,
            ["source"] = latest.Source,
            ["createdAt"] = latest.CreatedAt.ToString("O"),
            ["ageSeconds"] = (long)age.TotalSeconds,
        };
        if (refusal is not null)
        {
            data["refused"] = refusal.Code;
            data["refusedAt"] = refusal.At.ToString("O");
        }

        return age > options.Value.MaxListAge
            ? HealthCheckResult.Degraded($"federation list version {latest.Version} is older than {options.Value.MaxListAge}{refused}", data: data)
            : refusal is not null
                ? HealthCheckResult.Degraded($"federation list version {latest.Version} stays in force{refused}", data: data)
                : HealthCheckResult.Healthy($"federation list version {latest.Version} with {latest.DomainCount} domains", data);
    }

    private sealed record FederationListVersionEntityView(long Version, DateTimeOffset CreatedAt, int DomainCount, string Source);
}
