using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Tests.TestKit;

/// <summary>
/// Stands in for the registration service's proxy API: serves a federation list whose version and domains
/// the test controls (304 for the current version), and can be made unavailable.
/// </summary>
public sealed class FakeRegistrationService : IAsyncDisposable
{
    private readonly RecordingUpstream _server;
    private readonly object _gate = new();
    private long _version;
    private string[] _domains = [];

    private FakeRegistrationService(RecordingUpstream server) => _server = server;

    public Uri BaseUri => _server.BaseUri;

    public string Url => _server.BaseUri.ToString().TrimEnd('/');

    /// <summary>Domains listed with <c>isInsurance: true</c> (all others false).</summary>
    public HashSet<string> Insurances { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>When false the service answers 503.</summary>
    public bool Available { get; set; } = true;

    /// <summary>Delay before each answer, to make concurrent requests overlap.</summary>
    public TimeSpan Delay { get; set; }

    public int ListRequests => _server.Requests.Count(r => r.RawTarget.StartsWith("/backend/federation", StringComparison.Ordinal));

    public IReadOnlyCollection<RecordedRequest> Requests => _server.Requests;

    public static async Task<FakeRegistrationService> StartAsync(params string[] domains)
    {
        var server = await RecordingUpstream.StartAsync();
        var service = new FakeRegistrationService(server);
        service.Publish(domains);
        server.Respond = service.RespondAsync;
        return service;
    }

    /// <summary>Publishes a new version with these domains.</summary>
    public void Publish(params string[] domains)
    {
        lock (_gate)
        {
            _version++;
            _domains = domains;
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private async Task RespondAsync(HttpContext context, RecordedRequest request)
    {
        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay);
        }

        if (!Available)
        {
            context.Response.StatusCode = 503;
            return;
        }

        if (!request.RawTarget.StartsWith("/backend/federation", StringComparison.Ordinal))
        {
            context.Response.StatusCode = 404;
            return;
        }

        long version;
        string[] domains;
        lock (_gate)
        {
            (version, domains) = (_version, _domains);
        }

        if (context.Request.Query["version"] is { Count: 1 } held && held[0] == version.ToString(CultureInfo.InvariantCulture))
        {
            context.Response.StatusCode = 304;
            return;
        }

        var body = new StringBuilder($"{{\"version\":{version},\"domainList\":[");
        body.AppendJoin(',', domains.Select(d => $"{{\"domain\":\"{d}\",\"telematikID\":\"t-{d}\",\"isInsurance\":{(Insurances.Contains(d) ? "true" : "false")},\"ik\":[]}}"));
        body.Append("]}");
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToString());
    }
}
