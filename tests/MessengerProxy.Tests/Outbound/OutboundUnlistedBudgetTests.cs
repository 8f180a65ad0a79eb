using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// Certificates for hosts outside the federation come from a budget (<c>Outbound:UnlistedCertificateMints</c>
/// per <c>UnlistedCertificateMintPeriod</c>; two a day here): made-up names cannot make the proxy mint without
/// bound. A host whose certificate is cached costs nothing; beyond the budget a new one is refused at the
/// CONNECT, as without readable refusals.
/// </summary>
public sealed class OutboundUnlistedBudgetTests(OutboundFixture.WithSmallUnlistedBudget fixture) : IClassFixture<OutboundFixture.WithSmallUnlistedBudget>
{
    [Fact]
    public async Task BeyondTheMintBudget_NewUnlistedHostsRefusedAtTheConnect_CachedOnesStillAnsweredInside()
    {
        var first = $"first-{Guid.NewGuid():N}.example";
        var second = $"second-{Guid.NewGuid():N}.example";
        var third = $"third-{Guid.NewGuid():N}.example";

        Assert.Equal(403, await StatusInsideAsync(first));
        Assert.Equal(403, await StatusInsideAsync(second));
        var overBudget = await RawHttp.SendAsync(fixture.ProxyPort, $"CONNECT {third}:{fixture.RemotePort} HTTP/1.1\r\n\r\n");
        Assert.Equal(403, await StatusInsideAsync(first));

        Assert.Equal(403, overBudget.StatusCode);
        Assert.Equal("close", overBudget.Header("Connection"));
        Assert.Contains($"{third} is not part of the federation", overBudget.BodyText);
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("UnlistedMintBudgetSpent", StringComparison.Ordinal) && l.Contains(third, StringComparison.Ordinal));
        Assert.Contains("messengerproxy_outbound_certificates_minted_total 2",
            (await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText);
    }

    private async Task<int> StatusInsideAsync(string host)
    {
        var (_, tls, client) = await fixture.OpenTunnelAsync(host, fixture.RemotePort);
        using (client)
        await using (tls)
        {
            return (await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", host)).StatusCode;
        }
    }
}
