using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>With <c>Outbound:InterceptExtraHosts</c>, extra hosts get a minted certificate like federation peers, and still any path.</summary>
public sealed class OutboundInterceptedExtraHostTests(OutboundFixture.InterceptingExtraHosts fixture) : IClassFixture<OutboundFixture.InterceptingExtraHosts>
{
    [Fact]
    public async Task ExtraHost_Intercepted_MintedCertificateAndForwarded()
    {
        var (id, exit, stdout, stderr) = await fixture.CurlAsync("--verbose", "--write-out", "\n%{http_code}", fixture.RemoteUrl("/authorize?x=1", "sso.test"));

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n200", stdout);
        Assert.Contains("issuer: CN=Test Outbound Proxy CA", stderr);
        Assert.Equal("/authorize?x=1", fixture.Remote.Single(id).RawTarget);
    }

    [Fact]
    public async Task FederationHost_StillChecked()
    {
        var (id, _, stdout, _) = await fixture.CurlAsync("--write-out", "\n%{http_code}", fixture.RemoteUrl("/authorize?x=1"));

        Assert.EndsWith("\n404", stdout);
        Assert.Empty(fixture.Remote.WithTestId(id));
    }
}
