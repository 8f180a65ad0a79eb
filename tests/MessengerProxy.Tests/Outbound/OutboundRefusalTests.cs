using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// What the outbound proxy refuses, and that a refused request never reaches a remote server: ports, paths
/// and methods outside the server-server allowlist, X-Matrix mismatches, untrusted remote certificates,
/// malformed CONNECT requests, stalled clients. Hosts outside the federation list: <see cref="OutboundUnlistedInsideTunnelTests"/>
/// (refused inside the tunnel, the default) and <see cref="OutboundRefusalAtConnectTests"/> (at the CONNECT).
/// </summary>
public sealed class OutboundRefusalTests(OutboundFixture fixture) : IClassFixture<OutboundFixture>
{
    [Theory]
    [InlineData(22)]
    [InlineData(80)]
    [InlineData(8008)]
    public async Task Connect_PortNotAllowed_403(int port)
    {
        var response = await RawHttp.SendAsync(fixture.ProxyPort, $"CONNECT remote.test:{port} HTTP/1.1\r\n\r\n");

        AssertMatrixError(response, 403, "M_FORBIDDEN", $"Port {port} is not an allowed destination port");
    }

    [Theory]
    [InlineData("GET", "/_matrix/client/v3/sync", 404, "M_UNRECOGNIZED")]
    [InlineData("GET", "/_synapse/admin/v1/users", 404, "M_UNRECOGNIZED")]
    [InlineData("GET", "/_matrix/federation/unstable/org.matrix.msc9999/x", 404, "M_UNRECOGNIZED")]
    [InlineData("GET", "/_matrix/federation/v1/../../_synapse/admin/v1/users", 404, "M_UNRECOGNIZED")]
    [InlineData("GET", "/_matrix/federation/v1/%2e%2e/x", 404, "M_UNRECOGNIZED")]
    [InlineData("GET", "/_MATRIX/federation/v1/version", 404, "M_UNRECOGNIZED")]
    [InlineData("DELETE", "/_matrix/federation/v1/send/1", 405, "M_UNRECOGNIZED")]
    [InlineData("GET", "/_matrix/federation/v1/send/1", 405, "M_UNRECOGNIZED")]
    public async Task InsideTunnel_PathOrMethodOutsideServerServerAllowlist_RefusedAndNotForwarded(string method, string target, int status, string errcode)
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await SendInNewTunnelAsync("remote.test", method, target, "remote.test",
            $"Authorization: {OutboundFixture.XMatrix("remote.test")}\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n");

        AssertMatrixError(response, status, errcode);
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Theory]
    [InlineData("X-Matrix origin=\"own.test\",destination=\"other.test\",key=\"ed25519:a1\",sig=\"c2ln\"", 403, "M_FORBIDDEN", "X-Matrix destination other.test is not served by remote.test")]
    [InlineData("X-Matrix origin=\"own.test\",destination=\"remote.test.evil\",key=\"ed25519:a1\",sig=\"c2ln\"", 403, "M_FORBIDDEN", "is not served by remote.test")]
    [InlineData("X-Matrix origin=\"own.test\",key=\"ed25519:a1\",sig=\"c2ln\"", 401, "M_UNAUTHORIZED", "no destination")]
    [InlineData("X-Matrix origin=\"evil.test\",destination=\"remote.test\",key=\"ed25519:a1\",sig=\"c2ln\"", 403, "M_FORBIDDEN", "origin is not this homeserver")]
    [InlineData("Bearer token", 401, "M_UNAUTHORIZED", "X-Matrix")]
    [InlineData(null, 401, "M_UNAUTHORIZED", "no Authorization header")]
    public async Task InsideTunnel_XMatrixNotForThisDestination_Refused(string? authorization, int status, string errcode, string message)
    {
        var id = Guid.NewGuid().ToString("N");
        var headers = (authorization is null ? string.Empty : $"Authorization: {authorization}\r\n") + $"{RecordingUpstream.TestIdHeader}: {id}\r\n";
        var response = await SendInNewTunnelAsync("remote.test", "PUT", "/_matrix/federation/v1/send/t1", "remote.test", headers, "{}");

        AssertMatrixError(response, status, errcode, message);
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task InsideTunnel_HostHeaderNamingAnotherServer_Refused()
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await SendInNewTunnelAsync("remote.test", "GET", "/_matrix/federation/v1/version", "other.test", $"{RecordingUpstream.TestIdHeader}: {id}\r\n");

        AssertMatrixError(response, 403, "M_FORBIDDEN", "Host header");
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task InsideTunnel_LegacyMediaOfAnotherServer_Refused()
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await SendInNewTunnelAsync("remote.test", "GET", "/_matrix/media/v3/download/other.test/abc", "remote.test", $"{RecordingUpstream.TestIdHeader}: {id}\r\n");

        AssertMatrixError(response, 403, "M_FORBIDDEN", "Media of other.test");
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task InsideTunnel_DeclaredBodyOverLimit_413()
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await SendInNewTunnelAsync("remote.test", "PUT", "/_matrix/federation/v1/send/big", "remote.test",
            $"Authorization: {OutboundFixture.XMatrix("remote.test")}\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n", new string('x', 70_000));

        AssertMatrixError(response, 413, "M_TOO_LARGE");
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task InsideTunnel_ChunkedBodyOverLimit_413AndNotCompleted()
    {
        var (_, tls, client) = await fixture.OpenTunnelAsync("remote.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var id = Guid.NewGuid().ToString("N");
            var head = $"PUT /_matrix/federation/v1/send/chunked HTTP/1.1\r\nHost: remote.test\r\nTransfer-Encoding: chunked\r\n" +
                       $"Authorization: {OutboundFixture.XMatrix("remote.test")}\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n\r\n";
            await tls.WriteAsync(Encoding.ASCII.GetBytes(head), TestContext.Current.CancellationToken);
            var chunk = Encoding.ASCII.GetBytes($"8000\r\n{new string('y', 0x8000)}\r\n");
            try
            {
                for (var i = 0; i < 4; i++)
                {
                    await tls.WriteAsync(chunk, TestContext.Current.CancellationToken);
                }

                await tls.WriteAsync("0\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
            }
            catch (IOException)
            {
                // The proxy may cut the upload off as soon as the limit is crossed.
            }

            var response = await RawHttp.ReadResponseAsync(tls, false, TestContext.Current.CancellationToken);
            Assert.Equal(413, response.StatusCode);
            var received = fixture.Remote.WithTestId(id);
            Assert.True(received.Count == 0 || received[0].BodyLength < 4 * 0x8000, "the remote must never receive the whole oversized body");
        }
    }

    [Fact]
    public async Task UntrustedRemoteCertificate_502AndRequestNeverSent()
    {
        var (id, exit, stdout, stderr) = await fixture.CurlAsync("--write-out", "\n%{http_code}",
            "-H", "Authorization: " + OutboundFixture.XMatrix("rogue.test"), $"https://rogue.test:{fixture.RoguePort}/_matrix/federation/v1/event/%24x");

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n502", stdout);
        Assert.Contains("The certificate of rogue.test is not trusted", stdout);
        Assert.Empty(fixture.Rogue.Requests);
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task SilentRemote_504AfterUpstreamTimeout_TunnelStillUsable()
    {
        var (_, tls, client) = await fixture.OpenTunnelAsync("remote.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var slow = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/event/%24slowpoke", "remote.test",
                $"Authorization: {OutboundFixture.XMatrix("remote.test")}\r\n");
            AssertMatrixError(slow, 504, "M_UNKNOWN", "remote.test did not answer in time");

            var next = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "remote.test");
            Assert.Equal(200, next.StatusCode);
        }
    }

    [Fact]
    public async Task RelayedTunnel_SilentBothWays_ClosedAfterTheIdleTimeout()
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", fixture.ProxyPort, TestContext.Current.CancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT sso.test:{fixture.RemotePort} HTTP/1.1\r\n\r\n"), TestContext.Current.CancellationToken);

        var buffer = new byte[1024];
        var total = 0;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        int read;
        while ((read = await stream.ReadAsync(buffer.AsMemory(total), timeout.Token)) > 0)
        {
            total += read;
        }

        // Only the 200, then the proxy closed the silent tunnel (the read ended with 0, not the test's timeout).
        Assert.Equal("HTTP/1.1 200 Connection Established\r\n\r\n", Encoding.ASCII.GetString(buffer, 0, total));
    }

    [Fact]
    public async Task RemoteCertificateForAnotherName_502AndRequestNeverSent()
    {
        // nocert.test is listed and resolves to the remote, whose certificate does not name it.
        var (id, exit, stdout, stderr) = await fixture.CurlAsync("--write-out", "\n%{http_code}", fixture.RemoteUrl("/_matrix/federation/v1/version", "nocert.test"));

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n502", stdout);
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task PlainHttp_ToFederationHost_Refused()
    {
        var (id, _, stdout, _) = await fixture.CurlAsync("--write-out", "\n%{http_code}", $"http://remote.test:{fixture.RemotePort}/_matrix/federation/v1/version");

        Assert.EndsWith("\n403", stdout);
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Theory]
    [InlineData("GET /_matrix/federation/v1/version HTTP/1.1\r\nHost: remote.test\r\n\r\n", 400, "forward proxy")]
    [InlineData("GET https://remote.test/_matrix/federation/v1/version HTTP/1.1\r\nHost: remote.test\r\n\r\n", 400, "CONNECT")]
    [InlineData("CONNECT remote.test HTTP/1.1\r\n\r\n", 400, "host:port")]
    [InlineData("CONNECT remote.test:99999 HTTP/1.1\r\n\r\n", 400, "host:port")]
    [InlineData("CONNECT remote.test:8448  HTTP/1.1\r\n\r\n", 400, "")]
    [InlineData("CONNECT remote.test:8448 HTTP/2.0\r\n\r\n", 505, "")]
    [InlineData("CONNECT user@remote.test:8448 HTTP/1.1\r\n\r\n", 400, "host:port")]
    [InlineData("CONNECT remote.test:8448 HTTP/1.1\r\nBroken header\r\n\r\n", 400, "header")]
    [InlineData("CONNECT remote.test:8448 HTTP/1.1\r\nX: a\u0001b\r\n\r\n", 400, "header")]
    [InlineData("CONNECT [::1:8448 HTTP/1.1\r\n\r\n", 400, "host:port")]
    public async Task MalformedProxyRequests_ClearError(string request, int status, string message)
    {
        var response = await RawHttp.SendAsync(fixture.ProxyPort, request);

        Assert.Equal(status, response.StatusCode);
        using var body = JsonDocument.Parse(response.Body);
        Assert.StartsWith("M_", body.RootElement.GetProperty("errcode").GetString());
        Assert.Contains(message, body.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task OversizedConnectHead_431()
    {
        var request = $"CONNECT remote.test:{fixture.RemotePort} HTTP/1.1\r\n" + string.Concat(Enumerable.Range(0, 200).Select(i => $"X-Flood-{i}: {new string('a', 60)}\r\n")) + "\r\n";

        var response = await RawHttp.SendAsync(fixture.ProxyPort, request);

        AssertMatrixError(response, 431, "M_UNKNOWN", "too large");
    }

    [Fact]
    public async Task IncompleteConnectHead_408AfterHeadTimeout()
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", fixture.ProxyPort, TestContext.Current.CancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync("CONNECT remote.test:8448 HTTP/1.1\r\nHost: rem"u8.ToArray(), TestContext.Current.CancellationToken);

        var response = await RawHttp.ReadResponseAsync(stream, false, TestContext.Current.CancellationToken);

        AssertMatrixError(response, 408, "M_UNKNOWN", "not received in time");
    }

    [Fact]
    public async Task TlsHandshakeNeverStarted_TunnelClosedAfterHandshakeTimeout_OthersUnaffected()
    {
        using var stalled = new TcpClient();
        await stalled.ConnectAsync("127.0.0.1", fixture.ProxyPort, TestContext.Current.CancellationToken);
        var stream = stalled.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT remote.test:{fixture.RemotePort} HTTP/1.1\r\n\r\n"), TestContext.Current.CancellationToken);

        // Meanwhile another tunnel works normally.
        var other = await SendInNewTunnelAsync("remote.test", "GET", "/_matrix/federation/v1/version", "remote.test");
        Assert.Equal(200, other.StatusCode);

        var buffer = new byte[1024];
        var total = 0;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        int read;
        while ((read = await stream.ReadAsync(buffer.AsMemory(total), timeout.Token)) > 0)
        {
            total += read;
        }

        Assert.StartsWith("HTTP/1.1 200 Connection Established\r\n\r\n", Encoding.ASCII.GetString(buffer, 0, total));
        Assert.Equal(39, total);
    }

    [Fact]
    public async Task DelegatedHost_RequestNotAddressedToTheDelegatingServer_403AndNotForwarded()
    {
        await LearnDelegationAsync();
        var id = Guid.NewGuid().ToString("N");
        var testId = $"{RecordingUpstream.TestIdHeader}: {id}\r\n";
        var (_, tls, client) = await fixture.OpenTunnelAsync("deleg-target.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            // deleg-target.test is in the list only as deleg-src.test's delegate: a request naming nothing but
            // the delegate itself is not for a listed server.
            var hostOnly = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "deleg-target.test", testId);
            var hostWithPort = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/key/v2/server", $"deleg-target.test:{fixture.RemotePort}", testId);
            var destinationIsDelegate = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/event/%24x", "deleg-target.test",
                $"Authorization: {OutboundFixture.XMatrix("deleg-target.test")}\r\n{testId}");
            var destinationIsDelegateHostIsServer = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/event/%24x", "deleg-src.test",
                $"Authorization: {OutboundFixture.XMatrix("deleg-target.test")}\r\n{testId}");

            AssertMatrixError(hostOnly, 403, "M_FORBIDDEN", "deleg-target.test");
            AssertMatrixError(hostWithPort, 403, "M_FORBIDDEN", "deleg-target.test");
            AssertMatrixError(destinationIsDelegate, 403, "M_FORBIDDEN", "X-Matrix destination deleg-target.test");
            AssertMatrixError(destinationIsDelegateHostIsServer, 403, "M_FORBIDDEN", "X-Matrix destination deleg-target.test");
            Assert.Empty(fixture.Remote.WithTestId(id));

            // What Synapse sends to a .well-known-delegated server: Host is the delegate (spec: server discovery
            // step 3.2), the X-Matrix destination the server name; signed even on unauthenticated endpoints.
            var keys = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/key/v2/server", $"deleg-target.test:{fixture.RemotePort}",
                $"Authorization: {OutboundFixture.XMatrix("deleg-src.test")}\r\n{testId}");
            var byServerName = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "deleg-src.test", testId);
            Assert.Equal(200, keys.StatusCode);
            Assert.Equal(200, byServerName.StatusCode);
            Assert.Equal(2, fixture.Remote.WithTestId(id).Count);
        }
    }

    [Fact]
    public async Task DelegateThatIsListedItself_StaysReachableAsItselfAndForItsDelegator()
    {
        // Outbound:Delegations makes deleg-src.test delegate to other.test, which is listed on its own.
        var (_, tls, client) = await fixture.OpenTunnelAsync("other.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var itself = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/event/%24x", "other.test",
                $"Authorization: {OutboundFixture.XMatrix("other.test")}\r\n");
            var version = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "other.test");
            var delegator = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/event/%24x", "other.test",
                $"Authorization: {OutboundFixture.XMatrix("deleg-src.test")}\r\n");

            Assert.Equal(200, itself.StatusCode);
            Assert.Equal(200, version.StatusCode);
            Assert.Equal(200, delegator.StatusCode);
        }
    }

    public static TheoryData<string, string, string> ClientMistakes => new()
    {
        { "remote.test", "X-Display: caf\u00c3\u00a9\r\n", "non-ASCII" },
        { "remote.test", $"Authorization: {OutboundFixture.XMatrix("r\u00c3\u00a9mote.test")}\r\n", "non-ASCII" },
        { "remote.test:99999", "", "Host" },
        { "remote.test:0", "", "Host" },
        { "remote.test:" + new string('1', 300), "", "Host" },
        { new string('a', 250) + ".remote.test", "", "Host" },
        { "remote_test", "", "Host" },
        { "", "", "Host" },
    };

    [Theory]
    [MemberData(nameof(ClientMistakes))]
    public async Task InsideTunnel_ClientMistakeInTheHead_400AndNotForwarded(string hostHeader, string headers, string message)
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await SendInNewTunnelAsync("remote.test", "GET", "/_matrix/federation/v1/version", hostHeader, $"{headers}{RecordingUpstream.TestIdHeader}: {id}\r\n");

        AssertMatrixError(response, 400, "M_UNKNOWN", message);
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task PlainHttp_NonAsciiHeaderValue_400AndNotForwarded()
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(fixture.ProxyPort,
            $"POST http://push.test:{fixture.PushPort}/_matrix/push/v1/notify HTTP/1.1\r\nHost: push.test:{fixture.PushPort}\r\nX-Display: caf\u00c3\u00a9\r\n" +
            $"{RecordingUpstream.TestIdHeader}: {id}\r\nContent-Length: 2\r\n\r\n{{}}");

        AssertMatrixError(response, 400, "M_UNKNOWN", "non-ASCII");
        Assert.Empty(fixture.Push.WithTestId(id));
    }

    [Theory]
    [InlineData("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")]
    [InlineData("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n")]
    [InlineData("Upgrade: websocket\r\n")]
    [InlineData("Connection: keep-alive, upgrade\r\n")]
    public async Task InsideTunnel_ProtocolUpgradeRequest_400AndNeverForwarded(string headers)
    {
        var id = Guid.NewGuid().ToString("N");
        foreach (var host in new[] { "remote.test", "switch.test" })
        {
            var port = host == "remote.test" ? fixture.RemotePort : fixture.SwitchingPort;
            var (_, tls, client) = await fixture.OpenTunnelAsync(host, port);
            using (client)
            await using (tls)
            {
                var response = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", host, $"{headers}{RecordingUpstream.TestIdHeader}: {id}\r\n");

                AssertMatrixError(response, 400, "M_UNRECOGNIZED", "upgrade");
                Assert.Equal("close", response.Header("Connection"));
                await AssertClosedAsync(tls);
            }
        }

        Assert.Empty(fixture.Remote.WithTestId(id));
        Assert.Empty(fixture.Switching.WithTestId(id));
    }

    [Fact]
    public async Task PlainHttp_ProtocolUpgradeRequestToExtraHost_400AndNeverForwarded()
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(fixture.ProxyPort,
            $"GET http://switch-push.test:{fixture.SwitchingPlainPort}/socket HTTP/1.1\r\nHost: switch-push.test:{fixture.SwitchingPlainPort}\r\n" +
            $"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n\r\n");

        AssertMatrixError(response, 400, "M_UNRECOGNIZED", "upgrade");
        Assert.Empty(fixture.SwitchingPlain.WithTestId(id));
    }

    [Fact]
    public async Task Curl_RemoteAnswering101_502AndNothingOfTheOtherProtocolRelayed()
    {
        var (id, exit, stdout, stderr) = await fixture.CurlAsync("--write-out", "\n%{http_code}", $"https://switch.test:{fixture.SwitchingPort}/_matrix/federation/v1/version");

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n502", stdout);
        Assert.Contains("switched protocols", stdout);
        Assert.DoesNotContain(SwitchingUpstream.AfterSwitch, stdout);
        Assert.Single(fixture.Switching.WithTestId(id));
    }

    [Fact]
    public async Task InsideTunnel_RemoteAnswering101_502ThenTunnelClosed_ClientBytesNeverRelayed()
    {
        var id = Guid.NewGuid().ToString("N");
        var (_, tls, client) = await fixture.OpenTunnelAsync("switch.test", fixture.SwitchingPort);
        using (client)
        await using (tls)
        {
            var response = await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "switch.test", $"{RecordingUpstream.TestIdHeader}: {id}\r\n");
            AssertMatrixError(response, 502, "M_UNKNOWN", "switched protocols");
            Assert.Equal("close", response.Header("Connection"));
            Assert.DoesNotContain(SwitchingUpstream.AfterSwitch, response.BodyText);

            // Whatever the client sends now must not reach the remote as raw bytes of an upgraded connection.
            try
            {
                await tls.WriteAsync("GARBAGE-AFTER-101\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
            }
            catch (IOException)
            {
            }

            await AssertClosedAsync(tls);
        }

        Assert.Single(fixture.Switching.WithTestId(id));
        Assert.Equal(0, fixture.Switching.BytesAfterHeads);
    }

    [Fact]
    public async Task PlainHttp_ExtraHostAnswering101_502AndClosed()
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(fixture.ProxyPort,
            $"GET http://switch-push.test:{fixture.SwitchingPlainPort}/x HTTP/1.1\r\nHost: switch-push.test:{fixture.SwitchingPlainPort}\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n\r\n");

        AssertMatrixError(response, 502, "M_UNKNOWN", "switched protocols");
        Assert.Equal("close", response.Header("Connection"));
        Assert.Single(fixture.SwitchingPlain.WithTestId(id));
    }

    private async Task LearnDelegationAsync()
    {
        var (_, exit, stdout, stderr) = await fixture.CurlAsync(fixture.RemoteUrl("/.well-known/matrix/server", "deleg-src.test"));
        Assert.True(exit == 0, stderr);
        Assert.Contains("deleg-target.test", stdout);
    }

    /// <summary>The proxy ended the connection: the next read gives end of stream (or the connection was reset).</summary>
    private static async Task AssertClosedAsync(Stream stream)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var buffer = new byte[256];
        try
        {
            Assert.Equal(0, await stream.ReadAsync(buffer, timeout.Token));
        }
        catch (IOException)
        {
        }
    }

    private async Task<RawResponse> SendInNewTunnelAsync(string host, string method, string target, string hostHeader, string headers = "", string body = "")
    {
        var (_, tls, client) = await fixture.OpenTunnelAsync(host, fixture.RemotePort);
        using (client)
        await using (tls)
        {
            return await OutboundFixture.SendInTunnelAsync(tls, method, target, hostHeader, headers, body);
        }
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
