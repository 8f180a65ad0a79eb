using System.Text.Json;
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

    [Fact]
    public async Task ExtraHost_Intercepted_ProtocolUpgradeRequest_400AndNeverForwarded()
    {
        var id = Guid.NewGuid().ToString("N");
        var (_, tls, client) = await fixture.OpenTunnelAsync("sso.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var response = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/socket", "sso.test",
                $"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n");

            Assert.Equal(400, response.StatusCode);
            using var body = JsonDocument.Parse(response.Body);
            Assert.Equal("M_UNRECOGNIZED", body.RootElement.GetProperty("errcode").GetString());
        }

        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task ExtraHost_Intercepted_RemoteAnswering101_502()
    {
        var (id, exit, stdout, stderr) = await fixture.CurlAsync("--write-out", "\n%{http_code}", $"https://switch-extra.test:{fixture.SwitchingPort}/authorize");

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n502", stdout);
        Assert.Contains("switched protocols", stdout);
        Assert.DoesNotContain(SwitchingUpstream.AfterSwitch, stdout);
        Assert.Single(fixture.Switching.WithTestId(id));
    }
}
