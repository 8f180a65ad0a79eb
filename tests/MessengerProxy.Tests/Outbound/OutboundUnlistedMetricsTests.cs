using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// How refusals inside the tunnel are counted: the tunnel as <c>refused_inside</c> (not <c>opened</c>), each
/// request as <c>refused</c>, and one certificate minted for the host however many requests and tunnels
/// follow. A proxy of its own, so counts are exact.
/// </summary>
public sealed class OutboundUnlistedMetricsTests(OutboundUnlistedMetricsTests.Fixture fixture) : IClassFixture<OutboundUnlistedMetricsTests.Fixture>
{
    [Fact]
    public async Task RefusedInside_CountedAsItsOwnTunnelOutcome_EachRequestAsRefused()
    {
        for (var tunnel = 0; tunnel < 2; tunnel++)
        {
            var (_, tls, client) = await fixture.OpenTunnelAsync("unlisted.test", fixture.RemotePort);
            using (client)
            await using (tls)
            {
                foreach (var path in new[] { "/_matrix/federation/v1/version", "/_matrix/key/v2/server", "/_matrix/client/v3/sync" })
                {
                    Assert.Equal(403, (await OutboundFixture.SendInTunnelAsync(tls, "GET", path, "unlisted.test")).StatusCode);
                }
            }
        }

        var refusedAtConnect = await RawHttp.SendAsync(fixture.ProxyPort, "CONNECT unlisted.test:22 HTTP/1.1\r\n\r\n");
        Assert.Equal(403, refusedAtConnect.StatusCode);

        var text = (await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.Contains("messengerproxy_outbound_tunnels_total{outcome=\"refused_inside\"} 2", text);
        Assert.Contains("messengerproxy_outbound_tunnels_total{outcome=\"refused\"} 1", text);
        Assert.DoesNotContain("outcome=\"opened\"", text);
        Assert.Contains("messengerproxy_outbound_requests_total{kind=\"federation\",outcome=\"refused\",status_class=\"4xx\"} 6", text);
        Assert.DoesNotContain("outcome=\"forwarded\"", text);
        Assert.Contains("messengerproxy_outbound_certificates_minted_total 1", text);
    }

    public sealed class Fixture : OutboundFixture;
}
