using System.Text.Json;
using MessengerProxy.Tests.Inbound;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Tests.Host;

public sealed class HealthTests
{
    [Fact]
    public async Task Readiness_ReportsTheHomeserverByName_UpWhenReachable()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));

        var response = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));

        Assert.Equal(200, response.StatusCode);
        using var body = JsonDocument.Parse(response.Body);
        Assert.Equal("UP", body.RootElement.GetProperty("status").GetString());
        var homeserver = body.RootElement.GetProperty("components").GetProperty("homeserver");
        Assert.Equal("UP", homeserver.GetProperty("status").GetString());
        Assert.Equal(200, homeserver.GetProperty("details").GetProperty("status").GetInt32());
        Assert.Equal("/health", upstream.Requests.Single().RawTarget);
    }

    [Fact]
    public async Task Readiness_HomeserverDown_Is503WithReason_LivenessStaysUp()
    {
        await using var proxy = await ProxyHost.StartAsync($"http://127.0.0.1:{LoopbackPorts.Tcp()}");

        var readiness = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));
        var liveness = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/liveness"));

        Assert.Equal(503, readiness.StatusCode);
        using var body = JsonDocument.Parse(readiness.Body);
        Assert.Equal("DOWN", body.RootElement.GetProperty("status").GetString());
        Assert.Contains("unreachable", body.RootElement.GetProperty("components").GetProperty("homeserver").GetProperty("description").GetString());
        Assert.Equal(200, liveness.StatusCode);
        Assert.Contains("\"UP\"", liveness.BodyText);
    }

    [Fact]
    public async Task Readiness_HomeserverUnhealthyStatus_IsDown()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        upstream.Respond = (context, _) =>
        {
            context.Response.StatusCode = 503;
            return Task.CompletedTask;
        };
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), "Health:HomeserverProbePath=/_matrix/client/versions");

        var response = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));

        Assert.Equal(503, response.StatusCode);
        Assert.Contains("HTTP 503", response.BodyText);
        Assert.Equal("/_matrix/client/versions", upstream.Requests.Single().RawTarget);
    }

    [Theory]
    [InlineData("/actuator/health/readiness")]
    [InlineData("/actuator/health/liveness")]
    [InlineData("/actuator/health")]
    [InlineData("/metrics")]
    public async Task HealthAndMetrics_AreNeverServedOnThePublicPort(string path)
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", path));

        RejectionTests.AssertMatrixError(response, 404, "M_UNRECOGNIZED");
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task HealthPort_DoesNotProxy()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));

        var response = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/_matrix/client/versions"));

        Assert.Equal(404, response.StatusCode);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task Metrics_CountRequestsByFamilyAndOutcome_InPrometheusText()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));
        await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/versions"));
        // (The TIM rulebook requires X-Matrix on /version; federation checks are off here, so any origin passes.)
        await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/federation/v1/version", "Authorization: X-Matrix origin=ex.org,key=\"k\",sig=\"s\"\r\n"));
        await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_synapse/admin/v1/users"));
        await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/sync"));

        var response = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"));

        Assert.Equal(200, response.StatusCode);
        Assert.StartsWith("text/plain", response.Header("Content-Type"));
        var text = response.BodyText;
        Assert.Contains("messengerproxy_inbound_requests_total{family=\"client\",outcome=\"forwarded\",status_class=\"2xx\"} 1", text);
        Assert.Contains("messengerproxy_inbound_requests_total{family=\"federation\",outcome=\"forwarded\",status_class=\"2xx\"} 1", text);
        Assert.Contains("messengerproxy_inbound_requests_total{family=\"unmatched\",outcome=\"rejected\",status_class=\"4xx\"} 1", text);
        Assert.Contains("messengerproxy_inbound_requests_total{family=\"client\",outcome=\"rejected\",status_class=\"4xx\"} 1", text);
        Assert.Contains("messengerproxy_inbound_request_duration_seconds_bucket{family=\"client\",outcome=\"forwarded\",le=\"0.005\"}", text);
        Assert.Contains("process_cpu_seconds_total", text);
    }

    [Fact]
    public async Task Metrics_NegotiateOpenMetrics_WhenTheScraperAsksForIt()
    {
        // Content negotiation is prometheus-net's exporter's: a scraper asking for OpenMetrics gets it (with
        // exemplars and the # EOF terminator), any other scraper the classic text format.
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));
        await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/versions"));

        var response = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics", "Accept: application/openmetrics-text; version=1.0.0\r\n"));

        Assert.Equal(200, response.StatusCode);
        Assert.StartsWith("application/openmetrics-text", response.Header("Content-Type"));
        Assert.Contains("messengerproxy_inbound_requests_total{family=\"client\",outcome=\"forwarded\",status_class=\"2xx\"} 1", response.BodyText);
        Assert.EndsWith("# EOF\n", response.BodyText);
    }

    [Fact]
    public async Task Metrics_CountUpstreamErrors()
    {
        await using var proxy = await ProxyHost.StartAsync($"http://127.0.0.1:{LoopbackPorts.Tcp()}");
        await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login"));

        var text = (await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.Contains("messengerproxy_inbound_upstream_errors_total{kind=\"Request\"} 1", text);
        Assert.Contains("messengerproxy_inbound_requests_total{family=\"client\",outcome=\"upstream_error\",status_class=\"5xx\"} 1", text);
    }
}
