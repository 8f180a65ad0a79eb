using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// Whose fault a failed request was, as the request metric tells it: the client's mistakes are refusals
/// (4xx, outcome <c>refused</c>), a remote's misbehaviour is an upstream error (5xx, and in
/// <c>upstream_errors_total</c>). A proxy of its own, so counts are exact.
/// </summary>
public sealed class OutboundOutcomeMetricsTests(OutboundOutcomeMetricsTests.Fixture fixture) : IClassFixture<OutboundOutcomeMetricsTests.Fixture>
{
    [Fact]
    public async Task ClientMistakesCountAsRefused_RemoteSwitchingProtocolsAsUpstreamError()
    {
        var (_, tls, client) = await fixture.OpenTunnelAsync("remote.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var nonAscii = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "remote.test", "X-Display: caf\u00c3\u00a9\r\n");
            var badHost = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "remote.test:99999");
            Assert.Equal(400, nonAscii.StatusCode);
            Assert.Equal(400, badHost.StatusCode);
        }

        var (_, switchTls, switchClient) = await fixture.OpenTunnelAsync("switch.test", fixture.SwitchingPort);
        using (switchClient)
        await using (switchTls)
        {
            var switched = await OutboundFixture.SendInTunnelAsync(switchTls, "GET", "/_matrix/federation/v1/version", "switch.test");
            Assert.Equal(502, switched.StatusCode);
        }

        var text = (await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.Contains("messengerproxy_outbound_requests_total{kind=\"federation\",outcome=\"refused\",status_class=\"4xx\"} 2", text);
        Assert.Contains("messengerproxy_outbound_requests_total{kind=\"federation\",outcome=\"upstream_error\",status_class=\"5xx\"} 1", text);
        Assert.DoesNotContain("outcome=\"forwarded\"", text);

        // Counted by the forwarding stage both proxies share, as inbound always was.
        Assert.Contains("messengerproxy_outbound_upstream_errors_total{kind=\"Request\"} 1", text);
    }

    public sealed class Fixture : OutboundFixture;
}
