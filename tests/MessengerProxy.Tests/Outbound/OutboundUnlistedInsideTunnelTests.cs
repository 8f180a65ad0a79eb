using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// Refusals a homeserver can read (the default, <c>Outbound:RefuseUnlistedInsideTunnel</c>): a CONNECT to a
/// host outside the federation list is accepted, TLS is terminated with a certificate minted for the host, and
/// every request inside is answered <c>403 M_FORBIDDEN "&lt;host&gt; is not part of the federation"</c>, on a
/// kept-alive connection; the host is never resolved and nothing is connected to. Driven through real tunnels
/// by curl, openssl s_client, .NET's HttpClient with a WebProxy and by hand. What is refused at the CONNECT
/// (internal addresses, ports, malformed heads) still is.
/// </summary>
public sealed class OutboundUnlistedInsideTunnelTests(OutboundFixture fixture) : IClassFixture<OutboundFixture>
{
    private const string Refusal = "unlisted.test is not part of the federation";

    [Fact]
    public async Task RawTunnel_UnlistedHost_EveryRequest403NamingTheHost_OnOneKeptAliveConnection()
    {
        var id = Guid.NewGuid().ToString("N");
        var testId = $"{RecordingUpstream.TestIdHeader}: {id}\r\n";
        var (_, tls, client) = await fixture.OpenTunnelAsync("unlisted.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            // Allowed endpoints, a transaction with a body, paths outside the allowlist, another Host: all alike.
            var responses = new List<RawResponse>
            {
                await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", $"unlisted.test:{fixture.RemotePort}", testId),
                await OutboundFixture.SendInTunnelAsync(tls, "PUT", "/_matrix/federation/v1/send/txn1", "unlisted.test",
                    $"Authorization: {OutboundFixture.XMatrix("unlisted.test")}\r\nContent-Type: application/json\r\n{testId}", """{"pdus":[],"edus":[]}"""),
                await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/client/v3/sync?access_token=secret", "unlisted.test", testId),
                await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_synapse/admin/v1/users", "other.test", testId),
                await OutboundFixture.SendInTunnelAsync(tls, "POST", "/_matrix/federation/v1/user/keys/query", "unlisted.test",
                    $"Authorization: {OutboundFixture.XMatrix("unlisted.test")}\r\n{testId}", """{"device_keys":{}}"""),
            };

            foreach (var response in responses)
            {
                AssertMatrixError(response, 403, "M_FORBIDDEN", Refusal);
                Assert.NotEqual("close", response.Header("Connection"));
            }
        }

        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task Curl_UnlistedHost_Reads403MatrixError_OverTlsVerifiedAgainstTheProxyCa()
    {
        var (id, exit, stdout, stderr) = await fixture.CurlAsync("--verbose", "--write-out", "\n%{http_code}",
            "-H", "Authorization: " + OutboundFixture.XMatrix("unlisted.test"), fixture.RemoteUrl("/_matrix/federation/v1/query/profile?user_id=%40a%3Aunlisted.test", "unlisted.test"));

        // curl verified the chain against the proxy CA alone and the name against the URL.
        Assert.True(exit == 0, stderr);
        Assert.Contains("CONNECT tunnel established, response 200", stderr);
        Assert.Contains("subject: CN=unlisted.test", stderr);
        Assert.EndsWith("\n403", stdout);
        using var body = JsonDocument.Parse(stdout[..stdout.LastIndexOf('\n')]);
        Assert.Equal("M_FORBIDDEN", body.RootElement.GetProperty("errcode").GetString());
        Assert.Equal(Refusal, body.RootElement.GetProperty("error").GetString());
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task OpensslSClient_UnlistedHost_CertificateForTheHostChainsToTheProxyCa_EveryRequestAnswered403()
    {
        var (answers, diagnostics) = await OpensslSClient.ThroughProxyAsync(fixture.ProxyPort, "unlisted.test", fixture.RemotePort, fixture.ProxyCaPath,
            "GET /_matrix/federation/v1/version HTTP/1.1\r\nHost: unlisted.test\r\n\r\n" +
            "GET /_matrix/key/v2/server HTTP/1.1\r\nHost: unlisted.test\r\nConnection: close\r\n\r\n");

        Assert.Contains("Verification: OK", diagnostics);
        Assert.Contains("Verified peername: unlisted.test", diagnostics);
        Assert.Equal(2, answers.Split("HTTP/1.1 403 Forbidden").Length - 1);
        Assert.Equal(2, answers.Split(Refusal).Length - 1);
    }

    [Fact]
    public async Task HttpClient_WithWebProxy_UnlistedHost_Gets403MatrixErrorForEveryRequest()
    {
        using var handler = new HttpClientHandler
        {
            Proxy = new WebProxy($"http://127.0.0.1:{fixture.ProxyPort}"),
            UseProxy = true,
            ServerCertificateCustomValidationCallback = (_, certificate, chain, errors) => fixture.ProxyCa.Validator(this, certificate, chain, errors),
        };
        using var client = new HttpClient(handler);
        var id = Guid.NewGuid().ToString("N");

        foreach (var (method, path, body) in new[]
                 {
                     (HttpMethod.Get, "/_matrix/federation/v1/version", null),
                     (HttpMethod.Put, "/_matrix/federation/v2/invite/%21room%3Aown.test/%24event", """{"event":{},"room_version":"10"}"""),
                     (HttpMethod.Get, "/_matrix/client/v3/sync", (string?)null),
                 })
        {
            using var request = new HttpRequestMessage(method, fixture.RemoteUrl(path, "unlisted.test"));
            request.Headers.Add(RecordingUpstream.TestIdHeader, id);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            }

            using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            Assert.Equal("M_FORBIDDEN", json.RootElement.GetProperty("errcode").GetString());
            Assert.Equal(Refusal, json.RootElement.GetProperty("error").GetString());
        }

        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task UnlistedNameThatCannotResolve_StillAnsweredInside_AndNeverLookedUp()
    {
        var name = $"nx-{Guid.NewGuid():N}.invalid";
        using var lookups = new DnsLookups();

        var (_, tls, client) = await fixture.OpenTunnelAsync(name, fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var response = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", name);

            AssertMatrixError(response, 403, "M_FORBIDDEN", $"{name} is not part of the federation");
        }

        // The control: a listed name without a fixed address is looked up (and, unknown to DNS, refused).
        var listed = await RawHttp.SendAsync(fixture.ProxyPort, $"CONNECT unresolvable.test:{fixture.RemotePort} HTTP/1.1\r\n\r\n");
        Assert.True(listed.StatusCode is 502 or 504, $"{listed.StatusCode} {listed.BodyText}");
        Assert.Contains("unresolvable.test", lookups.Names);
        Assert.DoesNotContain(name, lookups.Names);
    }

    [Theory]
    [InlineData("10.0.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("intranet.test")]
    public async Task UnlistedInternalAddress_StillRefusedAtTheConnect(string host)
    {
        var response = await RawHttp.SendAsync(fixture.ProxyPort, $"CONNECT {host}:{fixture.RemotePort} HTTP/1.1\r\n\r\n");

        AssertMatrixError(response, 403, "M_FORBIDDEN", "resolves only to addresses the proxy must not connect to");
        Assert.Equal("close", response.Header("Connection"));
    }

    [Fact]
    public async Task UnlistedPublicAddressLiteral_AnsweredInside_WithACertificateForTheAddress()
    {
        var (_, tls, client) = await fixture.OpenTunnelAsync("8.8.8.8", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var response = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "8.8.8.8");

            AssertMatrixError(response, 403, "M_FORBIDDEN", "8.8.8.8 is not part of the federation");
        }
    }

    [Theory]
    [InlineData("CONNECT unlisted.test:22 HTTP/1.1\r\n\r\n", 403, "Port 22 is not an allowed destination port")]
    [InlineData("CONNECT unlisted.test:8448 HTTP/1.1\r\nBroken header\r\n\r\n", 400, "header")]
    [InlineData("CONNECT unlisted.test HTTP/1.1\r\n\r\n", 400, "host:port")]
    [InlineData("CONNECT unlisted.test:8448 HTTP/2.0\r\n\r\n", 505, "")]
    [InlineData("CONNECT unlisted_test:8448 HTTP/1.1\r\n\r\n", 400, "")]
    public async Task UnlistedHost_BadPortOrMalformedHead_StillRefusedAtTheConnect(string request, int status, string message)
    {
        var response = await RawHttp.SendAsync(fixture.ProxyPort, request);

        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {response.BodyText}");
        Assert.Equal("close", response.Header("Connection"));
        using var body = JsonDocument.Parse(response.Body);
        Assert.StartsWith("M_", body.RootElement.GetProperty("errcode").GetString());
        Assert.Contains(message, body.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task UnlistedTunnel_UpgradeRequestOrOversizedBody_AnsweredAndTheConnectionClosed()
    {
        foreach (var (headers, body) in new[] { ("Connection: Upgrade\r\nUpgrade: websocket\r\n", ""), ("", new string('x', 70_000)) })
        {
            var (_, tls, client) = await fixture.OpenTunnelAsync("unlisted.test", fixture.RemotePort);
            using (client)
            await using (tls)
            {
                RawResponse response;
                try
                {
                    response = await OutboundFixture.SendInTunnelAsync(tls, body.Length > 0 ? "PUT" : "GET", "/_matrix/federation/v1/send/t", "unlisted.test", headers, body);
                }
                catch (IOException)
                {
                    // The proxy may answer and close before the whole oversized body is written; read what it said.
                    response = await RawHttp.ReadResponseAsync(tls, false, TestContext.Current.CancellationToken);
                }

                AssertMatrixError(response, 403, "M_FORBIDDEN", Refusal);
                Assert.Equal("close", response.Header("Connection"));
            }
        }
    }

    [Fact]
    public async Task DelegateHostBeforeItsDelegationIsKnown_AnsweredInside_ThenStaleTunnelSays421_NewTunnelForwards()
    {
        var (_, tls, client) = await fixture.OpenTunnelAsync("deleg-target.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var before = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "deleg-src.test");
            AssertMatrixError(before, 403, "M_FORBIDDEN", "deleg-target.test is not part of the federation");

            var (_, exit, stdout, stderr) = await fixture.CurlAsync(fixture.RemoteUrl("/.well-known/matrix/server", "deleg-src.test"));
            Assert.True(exit == 0, stderr);
            Assert.Contains("deleg-target.test", stdout);

            // The refused tunnel was never checked for forwarding: it asks for a new connection instead.
            var stale = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "deleg-src.test");
            AssertMatrixError(stale, 421, "M_UNKNOWN", "deleg-target.test has joined the federation since this connection was opened");
            Assert.Equal("close", stale.Header("Connection"));
        }

        var id = Guid.NewGuid().ToString("N");
        var (_, fresh, freshClient) = await fixture.OpenTunnelAsync("deleg-target.test", fixture.RemotePort);
        using (freshClient)
        await using (fresh)
        {
            var forwarded = await OutboundFixture.SendInTunnelAsync(fresh, "GET", "/_matrix/federation/v1/version", "deleg-src.test", $"{RecordingUpstream.TestIdHeader}: {id}\r\n");
            Assert.Equal(200, forwarded.StatusCode);
        }

        Assert.Single(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task Logs_NameTheHostAndReason_NeverTokensBodiesOrIds()
    {
        var host = $"logged-{Guid.NewGuid():N}.example";
        var (_, tls, client) = await fixture.OpenTunnelAsync(host, fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var response = await OutboundFixture.SendInTunnelAsync(tls, "PUT", "/_matrix/federation/v2/invite/%21secretroom%3Aown.test/%24secretevent?access_token=tok3n", host,
                $"Authorization: {OutboundFixture.XMatrix(host)}\r\n", """{"event":{"content":"s3cret-body"}}""");
            Assert.Equal(403, response.StatusCode);
        }

        var lines = fixture.Logs.Lines.Where(l => l.Contains(host, StringComparison.Ordinal)).ToList();
        Assert.Contains(lines, l => l.Contains("TunnelRefusedInside", StringComparison.Ordinal) && l.Contains("host not in the federation list", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("RequestRefused", StringComparison.Ordinal) && l.Contains("/_matrix/federation/v2/invite/*/*", StringComparison.Ordinal)
            && l.Contains("403 M_FORBIDDEN", StringComparison.Ordinal));
        foreach (var secret in new[] { "secretroom", "secretevent", "tok3n", "s3cret-body", "c2lnbmF0dXJl" })
        {
            Assert.DoesNotContain(fixture.Logs.Lines, l => l.Contains(secret, StringComparison.Ordinal));
        }
    }

    private static void AssertMatrixError(RawResponse response, int status, string errcode, string message)
    {
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {response.BodyText}");
        Assert.Equal("application/json", response.Header("Content-Type"));
        using var body = JsonDocument.Parse(response.Body);
        Assert.Equal(errcode, body.RootElement.GetProperty("errcode").GetString());
        Assert.Contains(message, body.RootElement.GetProperty("error").GetString());
    }

    /// <summary>Names this process looked up in DNS, from the runtime's own name-resolution metric.</summary>
    private sealed class DnsLookups : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<string> _names = new();

        public DnsLookups()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "System.Net.NameResolution" && instrument.Name == "dns.lookup.duration")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag is { Key: "dns.question.name", Value: string name })
                    {
                        _names.Enqueue(name);
                    }
                }
            });
            _listener.Start();
        }

        public IReadOnlyCollection<string> Names => _names;

        public void Dispose() => _listener.Dispose();
    }
}
