using System.Diagnostics;
using MessengerProxy.Host.Configuration;
using MessengerProxy.Inbound.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Host.Health;

/// <summary>Readiness: the homeserver answers its health endpoint right now.</summary>
internal sealed class HomeserverHealthCheck : IHealthCheck
{
    public const string HttpClientName = "MessengerProxy.HomeserverProbe";

    private readonly IHttpClientFactory _httpClientFactory;
    private readonly Uri _probeUri;

    public HomeserverHealthCheck(IHttpClientFactory httpClientFactory, IOptions<InboundOptions> inbound, IOptions<HealthOptions> health)
    {
        _httpClientFactory = httpClientFactory;
        _probeUri = new Uri(inbound.Value.HomeserverUrl.TrimEnd('/') + health.Value.HomeserverProbePath);
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var data = new Dictionary<string, object> { ["url"] = _probeUri.ToString() };
        try
        {
            using var response = await _httpClientFactory.CreateClient(HttpClientName).GetAsync(_probeUri, cancellationToken);
            data["status"] = (int)response.StatusCode;
            data["latencyMs"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);
            return response.IsSuccessStatusCode
                ? HealthCheckResult.Healthy("homeserver reachable", data)
                : HealthCheckResult.Unhealthy($"homeserver answered HTTP {(int)response.StatusCode}", data: data);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            data["latencyMs"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);
            var reason = ex is TaskCanceledException ? "timed out" : ex.Message;
            return HealthCheckResult.Unhealthy($"homeserver unreachable: {reason}", data: data);
        }
    }
}
