using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// With <c>Outbound:RefuseUnlistedInsideTunnel=false</c> a host outside the federation list is refused at the
/// CONNECT, before TLS, and nothing is sent anywhere: the behaviour before readable refusals, unchanged.
/// </summary>
public sealed class OutboundRefusalAtConnectTests(OutboundFixture.RefusingUnlistedAtConnect fixture) : IClassFixture<OutboundFixture.RefusingUnlistedAtConnect>
{
    [Fact]
    public async Task Connect_HostNotInFederationList_403BeforeTls()
    {
        var response = await RawHttp.SendAsync(fixture.ProxyPort, $"CONNECT unlisted.test:{fixture.RemotePort} HTTP/1.1\r\nHost: unlisted.test\r\n\r\n");

        AssertMatrixError(response, 403, "M_FORBIDDEN", "unlisted.test is not part of the federation");
        Assert.Equal("close", response.Header("Connection"));
    }

    [Fact]
    public async Task Curl_HostNotInFederationList_FailsAtConnectAndSendsNothing()
    {
        var (id, exit, _, stderr) = await fixture.CurlAsync(fixture.RemoteUrl("/_matrix/federation/v1/version", "unlisted.test"));

        Assert.NotEqual(0, exit);
        Assert.Contains("403", stderr);
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task GarbageBytes_AnsweredOrClosed_AndListenerKeepsWorking()
    {
        using (var client = new TcpClient())
        {
            await client.ConnectAsync("127.0.0.1", fixture.ProxyPort, TestContext.Current.CancellationToken);
            var stream = client.GetStream();
            await stream.WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a }, TestContext.Current.CancellationToken);
            var buffer = new byte[4096];
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            var read = await stream.ReadAsync(buffer, timeout.Token);
            Assert.True(read == 0 || Encoding.ASCII.GetString(buffer, 0, read).StartsWith("HTTP/1.1 400", StringComparison.Ordinal));
        }

        var after = await RawHttp.SendAsync(fixture.ProxyPort, $"CONNECT unlisted.test:{fixture.RemotePort} HTTP/1.1\r\n\r\n");
        Assert.Equal(403, after.StatusCode);
    }

    [Fact]
    public async Task WellKnownDelegation_LearnedFromAnswer_OpensDelegatedHost()
    {
        // Before the homeserver has read deleg-src.test's well-known, its delegated host is just an unlisted host.
        var before = await RawHttp.SendAsync(fixture.ProxyPort, $"CONNECT deleg-target.test:{fixture.RemotePort} HTTP/1.1\r\nHost: deleg-target.test\r\n\r\n");
        Assert.Equal(403, before.StatusCode);

        var (_, exit, stdout, stderr) = await fixture.CurlAsync(fixture.RemoteUrl("/.well-known/matrix/server", "deleg-src.test").Replace($":{fixture.RemotePort}", ":" + fixture.RemotePort));
        Assert.True(exit == 0, stderr);
        Assert.Contains("deleg-target.test", stdout);

        // Now requests for deleg-src.test may travel to deleg-target.test, and only those.
        var (id, exit2, stdout2, stderr2) = await fixture.CurlAsync("--write-out", "\n%{http_code}",
            "-H", "Authorization: " + OutboundFixture.XMatrix("deleg-src.test"),
            fixture.RemoteUrl("/_matrix/federation/v1/query/profile?user_id=%40a%3Adeleg-src.test", "deleg-target.test"));
        Assert.True(exit2 == 0, stderr2);
        Assert.EndsWith("\n200", stdout2);
        Assert.Single(fixture.Remote.WithTestId(id));

        var (id3, _, stdout3, _) = await fixture.CurlAsync("--write-out", "\n%{http_code}",
            "-H", "Authorization: " + OutboundFixture.XMatrix("other.test"),
            fixture.RemoteUrl("/_matrix/federation/v1/query/profile?user_id=%40a%3Aother.test", "deleg-target.test"));
        Assert.EndsWith("\n403", stdout3);
        Assert.Empty(fixture.Remote.WithTestId(id3));
    }

    private static void AssertMatrixError(RawResponse response, int status, string errcode, string? message = null)
    {
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {response.BodyText}");
        Assert.Equal("application/json", response.Header("Content-Type"));
        using var body = JsonDocument.Parse(response.Body);
        Assert.Equal(errcode, body.RootElement.GetProperty("errcode").GetString());
        if (message is not null)
        {
            Assert.Contains(message, body.RootElement.GetProperty("error").GetString());
        }
    }
}
