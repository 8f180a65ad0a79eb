using System.Text;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// Bodies of every endpoint but media uploads are read whole and checked before the homeserver sees the request:
/// a broken, oversized or non-JSON body is answered by the proxy, and not even the request head reaches the homeserver.
/// </summary>
public sealed class RequestBodyTests : IClassFixture<ProxyFixture>
{
    private const string Auth = "Authorization: Bearer syt_token\r\n";

    // 27 (0x1b) bytes of JSON.
    private const string Data = """{"name":"aaaaaaaaaaaaaaaa"}""";

    private readonly ProxyFixture _fixture;

    public RequestBodyTests(ProxyFixture fixture) => _fixture = fixture;

    public static TheoryData<string> MalformedChunkedBodies => new()
    {
        $"0x1b\r\n{Data}\r\n0\r\n\r\n",
        $"+1b\r\n{Data}\r\n0\r\n\r\n",
        $"-1b\r\n{Data}\r\n0\r\n\r\n",
        $"1 b\r\n{Data}\r\n0\r\n\r\n",
        $"1g\r\n{Data}\r\n0\r\n\r\n",
        $"00000000000000001b\r\n{Data}\r\n0\r\n\r\n",
        $"1b\0\r\n{Data}\r\n0\r\n\r\n",
        $"1b \r\n{Data}\r\n0\r\n\r\n",
        $"1b\r{Data}\r\n0\r\n\r\n",
        $"\r\n{Data}\r\n0\r\n\r\n",
        $"1b\r\n{Data}EXTRA\r\n0\r\n\r\n",
        $"1b\r\n{Data}0\r\n\r\n",
    };

    [Theory]
    [MemberData(nameof(MalformedChunkedBodies))]
    public async Task MalformedChunkedBody_Is400_AndNoRequestHeadReachesTheHomeserver(string chunkedBody)
    {
        var id = Guid.NewGuid().ToString("N");
        var request = $"POST /_matrix/client/v3/createRoom HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Transfer-Encoding: chunked\r\n\r\n{chunkedBody}";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        RejectionTests.AssertMatrixError(response, 400, "M_UNKNOWN");
        Assert.Equal("close", response.Header("Connection"));
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task ChunkedJsonBody_IsForwardedWhole_WithItsLength()
    {
        var id = Guid.NewGuid().ToString("N");
        var request = $"PUT /_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t1 HTTP/1.1\r\nHost: matrix.example.org\r\nConnection: close\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Transfer-Encoding: chunked\r\n\r\n"
            + $"a\r\n{Data[..10]}\r\n11\r\n{Data[10..]}\r\n0\r\n\r\n";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        Assert.Equal(200, response.StatusCode);
        var seen = _fixture.Upstream.Single(id);
        Assert.Equal(Data, Encoding.UTF8.GetString(seen.Body));
        Assert.Equal("27", seen.Header("Content-Length"));
        Assert.Null(seen.Header("Transfer-Encoding"));
    }

    [Fact]
    public async Task ChunkedBodyOverTheJsonLimit_Is413_AndNothingReachesTheHomeserver()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), "Inbound:MaxJsonBodyBytes=4096");
        var id = Guid.NewGuid().ToString("N");
        var chunk = new string('a', 1024);
        var body = "200\r\n{\"a\":\"" + new string('a', 512 - 6) + "\r\n" + string.Concat(Enumerable.Repeat($"400\r\n{chunk}\r\n", 8)) + "0\r\n\r\n";
        var request = $"POST /_matrix/client/v3/createRoom HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Transfer-Encoding: chunked\r\n\r\n{body}";

        var response = await RawHttp.SendAsync(proxy.InboundPort, request);

        RejectionTests.AssertMatrixError(response, 413, "M_TOO_LARGE");
        Assert.Empty(upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task BodyCutShort_IsNeverForwarded()
    {
        var id = Guid.NewGuid().ToString("N");
        var head = $"POST /_matrix/client/v3/createRoom HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Content-Length: 100\r\n\r\n{{\"name\":";
        using (var client = new System.Net.Sockets.TcpClient())
        {
            await client.ConnectAsync("127.0.0.1", _fixture.Proxy.InboundPort, TestContext.Current.CancellationToken);
            await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes(head), TestContext.Current.CancellationToken);
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }

        // The proxy is still healthy and the aborted request never opened one to the homeserver.
        var (nextId, next) = await _fixture.SendAsync("GET", "/_matrix/client/versions");
        Assert.Equal(200, next.StatusCode);
        Assert.Single(_fixture.Upstream.WithTestId(nextId));
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    [Theory]
    [InlineData("27,27")]
    [InlineData("27, 27")]
    [InlineData("0x1b")]
    [InlineData("2_7")]
    [InlineData("27.0")]
    public async Task ContentLengthThatIsNotDigits_Is400_AndNeverForwarded(string contentLength)
    {
        var id = Guid.NewGuid().ToString("N");
        var request = $"POST /_matrix/client/v3/createRoom HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Content-Length: {contentLength}\r\n\r\n{Data}";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        Assert.Equal(400, response.StatusCode);
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task SignedContentLength_IsReadAsItsNumber_AndForwardedAsDigits()
    {
        // Kestrel parses "+27" as 27 before any application code runs and keeps only the number (see README),
        // so the proxy cannot refuse it; what it guarantees is that the homeserver sees the same framing.
        var id = Guid.NewGuid().ToString("N");
        // (A message send, not createRoom, whose body the TIM rulebook gives a room version.)
        var request = $"PUT /_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t1 HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Content-Length: +27\r\nConnection: close\r\n\r\n{Data}";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        Assert.Equal(200, response.StatusCode);
        var seen = _fixture.Upstream.Single(id);
        Assert.Equal("27", seen.Header("Content-Length"));
        Assert.Equal(Data, Encoding.UTF8.GetString(seen.Body));
    }

    [Theory]
    [InlineData("{\"name\":")]
    [InlineData("{\"name\":\"a\"} trailing")]
    [InlineData("{'name':'a'}")]
    [InlineData("{\"name\":NaN}")]
    [InlineData("\u00ff\u00fe")]
    public async Task JsonEndpoint_WithABodyThatIsNotJson_Is400NotJson_AndNeverForwarded(string body)
    {
        var (id, response) = await _fixture.SendAsync("PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t2", Auth, body);

        RejectionTests.AssertMatrixError(response, 400, "M_NOT_JSON");
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task InvalidUtf8InAJsonBody_Is400NotJson()
    {
        var id = Guid.NewGuid().ToString("N");
        byte[] body = [.. "{\"body\":\"a"u8, 0xC3, 0x28, .. "\"}"u8];
        byte[] request = [.. Encoding.ASCII.GetBytes($"PUT /_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t3 HTTP/1.1\r\nHost: matrix.example.org\r\nConnection: close\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Content-Length: {body.Length}\r\n\r\n"), .. body];

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        RejectionTests.AssertMatrixError(response, 400, "M_NOT_JSON");
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    [Theory]
    [InlineData("PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t4", """{"body":"a\ud800"}""")]
    [InlineData("PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t5", """{"body\udfff":"a"}""")]
    [InlineData("POST", "/_matrix/client/v3/createRoom", """{"invite":["@a:evil.example\ud800"]}""")]
    [InlineData("POST", "/_matrix/client/v3/rooms/!r:ex.org/invite", """{"user_id":"@a:ex.org\udc00\ud800"}""")]
    public async Task LoneSurrogateEscape_Is400BadJson_NotAnInternalError(string method, string target, string body)
    {
        var (id, response) = await _fixture.SendAsync(method, target, Auth, body);

        RejectionTests.AssertMatrixError(response, 400, "M_BAD_JSON");
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task EscapedSurrogatePair_IsValidJson_AndForwardedUnchanged()
    {
        const string body = """{"msgtype":"m.text","body":"\ud83d\ude00 \u00e9"}""";
        var (id, response) = await _fixture.SendAsync("PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t6", Auth, body);

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(body, Encoding.UTF8.GetString(_fixture.Upstream.Single(id).Body));
    }

    [Fact]
    public async Task BodyOnAnEndpointWithoutOne_IsReadBeforeForwarding()
    {
        // The spec defines no body for DELETE of a device's alias, but a malformed chunked one must not open a request either.
        var id = Guid.NewGuid().ToString("N");
        var request = $"DELETE /_matrix/client/v3/directory/room/%23a:ex.org HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Transfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        RejectionTests.AssertMatrixError(response, 400, "M_UNKNOWN");
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }
}
