using System.Text;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Inbound;

/// <summary>Client mistakes and forgeries in request headers are refused or removed before forwarding, and never look like homeserver failures.</summary>
public sealed class HeaderHardeningTests : IClassFixture<ProxyFixture>
{
    private const string Auth = "Authorization: Bearer syt_token\r\n";
    private readonly ProxyFixture _fixture;

    public HeaderHardeningTests(ProxyFixture fixture) => _fixture = fixture;

    public static TheoryData<byte[]> NonAsciiHeaderValues => new()
    {
        Encoding.UTF8.GetBytes("X-Name: caf\u00e9\r\n"),
        Encoding.UTF8.GetBytes("User-Agent: \u4e2d\u6587\r\n"),
        Encoding.UTF8.GetBytes("Authorization: Bearer t\u00f6ken\r\n"),
    };

    [Theory]
    [MemberData(nameof(NonAsciiHeaderValues))]
    public async Task NonAsciiHeaderValue_Is400Unknown_NotAHomeserverFailure(byte[] header)
    {
        var id = Guid.NewGuid().ToString("N");
        byte[] request = [.. Encoding.ASCII.GetBytes($"GET /_matrix/client/v3/sync HTTP/1.1\r\nHost: matrix.example.org\r\nConnection: close\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}"), .. header, .. "\r\n"u8];

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        RejectionTests.AssertMatrixError(response, 400, "M_UNKNOWN");
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task ClientMistakes_AreCountedAsRejected_NeverAsUpstreamErrors()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));
        await RawHttp.SendAsync(proxy.InboundPort, [.. "GET /_matrix/client/versions HTTP/1.1\r\nHost: matrix.example.org\r\nConnection: close\r\nX-Name: caf"u8, 0xC3, 0xA9, .. "\r\n\r\n"u8]);
        await RawHttp.SendAsync(proxy.InboundPort, "GET /_matrix/client/versions HTTP/1.1\r\nHost: h:99999\r\nConnection: close\r\n\r\n");

        var text = (await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.Contains("messengerproxy_inbound_requests_total{family=\"unmatched\",outcome=\"rejected\",status_class=\"4xx\"} 2", text);
        Assert.DoesNotContain("upstream_error", text);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData("matrix.example.org:99999")]
    [InlineData("matrix.example.org:0")]
    [InlineData("matrix.example.org:")]
    [InlineData("matrix.example.org:8a")]
    [InlineData("[::1")]
    [InlineData("[not-an-ip]:443")]
    [InlineData("a b")]
    [InlineData("")]
    public async Task InvalidHost_Is400Unknown_AndNeverForwarded(string host)
    {
        var id = Guid.NewGuid().ToString("N");
        var request = $"GET /_matrix/client/versions HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n\r\n";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        Assert.Equal(400, response.StatusCode);
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task OverlongHost_Is400Unknown_AndNeverForwarded()
    {
        var id = Guid.NewGuid().ToString("N");
        var request = $"GET /_matrix/client/versions HTTP/1.1\r\nHost: {new string('a', 300)}.example.org\r\nConnection: close\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n\r\n";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        RejectionTests.AssertMatrixError(response, 400, "M_UNKNOWN");
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    [Theory]
    [InlineData("matrix.example.org")]
    [InlineData("matrix.example.org:8448")]
    [InlineData("127.0.0.1:8090")]
    [InlineData("[::1]:8090")]
    [InlineData("synapse_internal")]
    public async Task ValidHost_IsForwardedAsSent(string host)
    {
        var id = Guid.NewGuid().ToString("N");
        var request = $"GET /_matrix/client/versions HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n\r\n";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(host, _fixture.Upstream.Single(id).Header("Host"));
    }

    [Theory]
    [InlineData("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")]
    [InlineData("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n")]
    public async Task UpgradeRequest_IsForwardedWithoutItsUpgrade(string headers)
    {
        var id = Guid.NewGuid().ToString("N");
        var request = $"GET /_matrix/client/v3/sync HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}{headers}\r\n";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        Assert.Equal(200, response.StatusCode);
        var seen = _fixture.Upstream.Single(id);
        Assert.Null(seen.Header("Upgrade"));
        Assert.Null(seen.Header("HTTP2-Settings"));
        Assert.DoesNotContain("upgrade", seen.Header("Connection") ?? string.Empty, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task HomeserverAnswering101_Is502_AndNoPipeIsOpened()
    {
        await using var upstream = SwitchingUpstream.Start();
        await using var proxy = await ProxyHost.StartAsync($"http://127.0.0.1:{upstream.Port}");
        var request = $"GET /_matrix/client/v3/sync HTTP/1.1\r\nHost: matrix.example.org\r\n{Auth}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync("127.0.0.1", proxy.InboundPort, TestContext.Current.CancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), TestContext.Current.CancellationToken);
        var response = await RawHttp.ReadResponseAsync(stream, headRequest: false, TestContext.Current.CancellationToken);

        Assert.Single(upstream.Heads);
        RejectionTests.AssertMatrixError(response, 502, "M_UNKNOWN");
        Assert.DoesNotContain(SwitchingUpstream.AfterSwitch, response.BodyText, StringComparison.Ordinal);

        // The connection still speaks checked HTTP: an unknown endpoint is refused by the proxy, not echoed.
        await stream.WriteAsync("GET /_synapse/admin/v1/users HTTP/1.1\r\nHost: matrix.example.org\r\nConnection: close\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
        var next = await RawHttp.ReadResponseAsync(stream, headRequest: false, TestContext.Current.CancellationToken);
        RejectionTests.AssertMatrixError(next, 404, "M_UNRECOGNIZED");
        Assert.Equal(0, upstream.BytesAfterHeads);
    }

    [Theory]
    [InlineData("True-Client-IP")]
    [InlineData("X-Client-IP")]
    [InlineData("CF-Connecting-IP")]
    [InlineData("Fastly-Client-IP")]
    [InlineData("X-Cluster-Client-IP")]
    [InlineData("X-Original-URL")]
    [InlineData("X-Rewrite-URL")]
    [InlineData("X_Forwarded_For")]
    [InlineData("X_Real_IP")]
    [InlineData("x_forwarded_host")]
    [InlineData("X-Forwarded")]
    public async Task ClientAddressAndUrlOverrideHeaders_FromClients_AreDropped(string name)
    {
        var (id, response) = await _fixture.SendAsync("GET", "/_matrix/client/versions", $"{name}: 6.6.6.6\r\n");

        Assert.Equal(200, response.StatusCode);
        var seen = _fixture.Upstream.Single(id);
        Assert.Null(seen.Header(name));
        Assert.Equal("127.0.0.1", seen.Header("X-Forwarded-For"));
        Assert.DoesNotContain(seen.Headers.Values.SelectMany(v => v), v => v.Contains("6.6.6.6", StringComparison.Ordinal));
    }
}
