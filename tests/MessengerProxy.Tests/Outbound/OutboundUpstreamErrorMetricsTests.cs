using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// The outbound proxy counts its upstream failures as the inbound one does (one forwarding stage for both):
/// <c>messengerproxy_outbound_upstream_errors_total</c> by forwarder error. A proxy of its own, so counts are exact.
/// </summary>
public sealed class OutboundUpstreamErrorMetricsTests(OutboundUpstreamErrorMetricsTests.Fixture fixture) : IClassFixture<OutboundUpstreamErrorMetricsTests.Fixture>
{
    [Fact]
    public async Task RemoteSwitchingProtocols_IsCountedAsAnUpstreamError()
    {
        var (_, tls, client) = await fixture.OpenTunnelAsync("switch.test", fixture.SwitchingPort);
        using (client)
        await using (tls)
        {
            var switched = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "switch.test");
            Assert.Equal(502, switched.StatusCode);
        }

        var text = (await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.Contains("messengerproxy_outbound_upstream_errors_total{kind=\"Request\"} 1", text);
    }

    public sealed class Fixture : OutboundFixture;
}
