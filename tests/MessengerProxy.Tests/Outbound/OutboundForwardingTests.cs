using System.Net;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// Allowed traffic through the outbound proxy, driven by independent clients (curl, openssl s_client) and
/// by .NET's HttpClient with a WebProxy: what arrives at the remote server, and what the client sees.
/// </summary>
public sealed class OutboundForwardingTests(OutboundFixture fixture) : IClassFixture<OutboundFixture>
{
    [Fact]
    public async Task Curl_FederationTransaction_ReachesRemoteWithRawTargetHeadersAndBody()
    {
        const string target = "/_matrix/federation/v1/send/txn%2F1%3Aa?x=%20y&z=%2F";
        var (id, exit, stdout, stderr) = await fixture.CurlAsync(
            "-X", "PUT", fixture.RemoteUrl(target),
            "-H", "Authorization: " + OutboundFixture.XMatrix("remote.test"),
            "-H", "Content-Type: application/json",
            "--data-binary", """{"pdus":[],"edus":[]}""",
            "--write-out", "\n%{http_code}");

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n200", stdout);
        var received = fixture.Remote.Single(id);
        Assert.Equal("PUT", received.Method);
        Assert.Equal(target, received.RawTarget);
        Assert.Equal(OutboundFixture.XMatrix("remote.test"), received.Header("Authorization"));
        Assert.Equal($"remote.test:{fixture.RemotePort}", received.Header("Host"));
        Assert.Equal("""{"pdus":[],"edus":[]}""", System.Text.Encoding.UTF8.GetString(received.Body));
        Assert.Null(received.Header("Proxy-Authorization"));
        Assert.Null(received.Header("X-Forwarded-For"));
    }

    [Fact]
    public async Task Curl_SeesCertificateMintedByProxyCaForTheHost()
    {
        var (_, exit, _, stderr) = await fixture.CurlAsync("--verbose", "--output", "/dev/null", fixture.RemoteUrl("/_matrix/federation/v1/version"));

        // curl verified the chain against the proxy CA alone (--cacert) and the name against the URL.
        Assert.True(exit == 0, stderr);
        Assert.Contains("issuer: CN=Test Outbound Proxy CA", stderr);
        Assert.Contains("subject: CN=remote.test", stderr);
        Assert.Contains("CONNECT tunnel established, response 200", stderr);
    }

    [Fact]
    public async Task OpensslSClient_ThroughProxy_VerifiesMintedChainAndName()
    {
        var (stdout, diagnostics) = await OpensslSClient.ThroughProxyAsync(fixture.ProxyPort, "remote.test", fixture.RemotePort, fixture.ProxyCaPath,
            "GET /_matrix/federation/v1/version HTTP/1.1\r\nHost: remote.test\r\nConnection: close\r\n\r\n");

        Assert.Contains("Verification: OK", diagnostics);
        Assert.Contains("Verified peername: remote.test", diagnostics);
        Assert.Contains("HTTP/1.1 200", stdout);
    }

    [Fact]
    public async Task HttpClient_WithWebProxy_GetsRemoteAnswer()
    {
        using var handler = new HttpClientHandler
        {
            Proxy = new WebProxy($"http://127.0.0.1:{fixture.ProxyPort}"),
            UseProxy = true,
            ServerCertificateCustomValidationCallback = (_, certificate, chain, errors) => fixture.ProxyCa.Validator(this, certificate, chain, errors),
        };
        using var client = new HttpClient(handler);
        var id = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.RemoteUrl("/_matrix/key/v2/server"));
        request.Headers.Add(RecordingUpstream.TestIdHeader, id);

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal("/_matrix/key/v2/server", body.RootElement.GetProperty("target").GetString());
        Assert.Equal("/_matrix/key/v2/server", fixture.Remote.Single(id).RawTarget);
    }

    [Fact]
    public async Task KeepAlive_SeveralRequestsInOneTunnel_AllForwarded()
    {
        var id = Guid.NewGuid().ToString("N");
        var (_, tls, client) = await fixture.OpenTunnelAsync("remote.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            for (var i = 0; i < 5; i++)
            {
                var response = await OutboundFixture.SendInTunnelAsync(tls, "GET", $"/_matrix/federation/v1/event/%24e{i}", "remote.test",
                    $"Authorization: {OutboundFixture.XMatrix("remote.test")}\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n");
                Assert.Equal(200, response.StatusCode);
            }
        }

        var received = fixture.Remote.WithTestId(id);
        Assert.Equal(["/_matrix/federation/v1/event/%24e0", "/_matrix/federation/v1/event/%24e1", "/_matrix/federation/v1/event/%24e2",
            "/_matrix/federation/v1/event/%24e3", "/_matrix/federation/v1/event/%24e4"], received.Select(r => r.RawTarget));
    }

    [Fact]
    public async Task KeepAlive_RefusalInsideTunnel_DoesNotEndTheTunnel()
    {
        var (_, tls, client) = await fixture.OpenTunnelAsync("remote.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var refused = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/client/v3/sync", "remote.test");
            var allowed = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "remote.test");

            Assert.Equal(404, refused.StatusCode);
            Assert.Equal(200, allowed.StatusCode);
        }
    }

    [Fact]
    public async Task LegacyMedia_ForTheTunnelHost_IsForwarded()
    {
        var (id, _, stdout, _) = await fixture.CurlAsync("--write-out", "\n%{http_code}", fixture.RemoteUrl("/_matrix/media/v3/download/remote.test/abcDEF"));

        Assert.EndsWith("\n200", stdout);
        Assert.Equal("/_matrix/media/v3/download/remote.test/abcDEF", fixture.Remote.Single(id).RawTarget);
    }

    [Fact]
    public async Task ExtraHost_OverHttps_RelayedEndToEnd_AnyPathWithoutXMatrix()
    {
        // Nothing inside an extra host's tunnel is checked, so its TLS is not intercepted: curl sees the
        // remote's own certificate and verifies it against the remote's CA.
        var (id, exit, stdout, stderr) = await fixture.CurlTrustingAsync(fixture.RemoteCaPath, "--verbose", "--write-out", "\n%{http_code}", "-X", "POST", "--data", "grant_type=x",
            fixture.RemoteUrl("/oauth2/token?client=synapse", "sso.test"));

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n200", stdout);
        Assert.Contains("issuer: CN=Test Remote CA", stderr);
        Assert.Equal("/oauth2/token?client=synapse", fixture.Remote.Single(id).RawTarget);
    }

    [Fact]
    public async Task ExtraHost_PlainHttpAbsoluteForm_ForwardedInOriginForm()
    {
        var (id, exit, stdout, stderr) = await fixture.CurlAsync("--write-out", "\n%{http_code}", "-X", "POST", "--data", "{}",
            "-H", "Content-Type: application/json", $"http://push.test:{fixture.PushPort}/_matrix/push/v1/notify");

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n200", stdout);
        var received = fixture.Push.Single(id);
        Assert.Equal("/_matrix/push/v1/notify", received.RawTarget);
        Assert.Equal($"push.test:{fixture.PushPort}", received.Header("Host"));
    }
}
