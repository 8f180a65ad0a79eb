using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// The outbound proxy's metrics and readiness on the health port (a proxy of its own, so counts are exact).
/// Readable refusals are counted in <see cref="OutboundUnlistedMetricsTests"/>.
/// </summary>
public sealed class OutboundObservabilityTests(OutboundObservabilityTests.Fixture fixture) : IClassFixture<OutboundObservabilityTests.Fixture>
{
    [Fact]
    public async Task Metrics_CountTunnelsRequestsAndMintedCertificates()
    {
        var (_, _, allowed, _) = await fixture.CurlAsync("--write-out", "\n%{http_code}", fixture.RemoteUrl("/_matrix/federation/v1/version"));
        var (_, _, refusedInside, _) = await fixture.CurlAsync("--write-out", "\n%{http_code}", fixture.RemoteUrl("/_matrix/client/v3/sync"));
        var refusedConnect = await RawHttp.SendAsync(fixture.ProxyPort, $"CONNECT unlisted.test:{fixture.RemotePort} HTTP/1.1\r\n\r\n");
        Assert.EndsWith("\n200", allowed);
        Assert.EndsWith("\n404", refusedInside);
        Assert.Equal(403, refusedConnect.StatusCode);

        var text = (await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.Contains("messengerproxy_outbound_tunnels_total{outcome=\"opened\"} 2", text);
        Assert.Contains("messengerproxy_outbound_tunnels_total{outcome=\"refused\"} 1", text);
        Assert.Contains("messengerproxy_outbound_requests_total{kind=\"federation\",outcome=\"forwarded\",status_class=\"2xx\"} 1", text);
        Assert.Contains("messengerproxy_outbound_requests_total{kind=\"federation\",outcome=\"refused\",status_class=\"4xx\"} 1", text);
        Assert.Contains("messengerproxy_outbound_certificates_minted_total 1", text);
        Assert.Contains("messengerproxy_outbound_request_duration_seconds_bucket{kind=\"federation\",outcome=\"forwarded\",le=\"0.005\"}", text);
    }

    [Fact]
    public async Task Readiness_ReportsTheProxyCa()
    {
        var response = await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));

        Assert.Contains("\"outbound-ca\":{\"status\":\"UP\",\"description\":\"the proxy CA is valid until", response.BodyText);
    }

    // Counts a CONNECT refused before TLS, which only the option-off set-up still does for an unlisted host.
    public sealed class Fixture : OutboundFixture.RefusingUnlistedAtConnect;
}
