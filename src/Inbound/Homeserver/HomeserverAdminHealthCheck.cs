using MessengerProxy.Inbound.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Homeserver;

/// <summary>
/// Readiness of the admin client (<c>homeserver-admin</c>): with credentials, an admin-only request
/// (<c>GET /_synapse/admin/v1/background_updates/status</c>, cheap) must succeed, so wrong credentials or a
/// non-admin account show at once. Without credentials it is reported as not configured (UP, since everything else
/// works; the description says that invites are then refused and the cleanup does not run).
/// </summary>
internal sealed class HomeserverAdminHealthCheck(HomeserverAdminClient admin, IOptions<TimOptions> tim) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var options = tim.Value;
        var needed = options.Enabled && (options.InviteCheck == InviteCheckMode.Proxy || options.OrphanedRooms.Enabled);
        if (!admin.IsConfigured)
        {
            return HealthCheckResult.Healthy(needed
                ? "not configured (Tim:Admin): invites are refused (fail closed) and the orphaned-room cleanup does not run"
                : "not configured, not needed", new Dictionary<string, object> { ["configured"] = false });
        }

        var data = new Dictionary<string, object> { ["configured"] = true, ["url"] = admin.BaseUrl };
        var response = await admin.SendAsync(HttpMethod.Get, "/_synapse/admin/v1/background_updates/status", null, 64 * 1024, cancellationToken);
        if (response.Failure != AdminFailure.None)
        {
            return HealthCheckResult.Unhealthy($"admin API unusable: {response.Detail}", data: data);
        }

        data["status"] = response.Status;
        return response.IsSuccess
            ? HealthCheckResult.Healthy("admin API reachable with admin credentials", data)
            : HealthCheckResult.Unhealthy($"admin API answered HTTP {response.Status}", data: data);
    }
}
