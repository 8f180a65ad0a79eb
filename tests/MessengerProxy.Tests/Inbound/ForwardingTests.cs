using System.Net;
using System.Net.Sockets;
using System.Text;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Tests.Inbound;

public sealed class ForwardingTests : IClassFixture<ProxyFixture>
{
    private readonly ProxyFixture _fixture;

    public ForwardingTests(ProxyFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task ForwardedHeaders_FromUntrustedClient_AreReplacedNotAppended()
    {
        var (id, response) = await _fixture.SendAsync("GET", "/_matrix/client/v3/login",
            "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 443\r\nForwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n");

        Assert.Equal(200, response.StatusCode);
        var seen = _fixture.Upstream.Single(id);
        Assert.Equal("127.0.0.1", seen.Header("X-Forwarded-For"));
        Assert.Equal("http", seen.Header("X-Forwarded-Proto"));
        Assert.Equal("matrix.example.org", seen.Header("X-Forwarded-Host"));
        Assert.Equal("matrix.example.org", seen.Header("Host"));
        Assert.Null(seen.Header("X-Forwarded-Port"));
        Assert.Null(seen.Header("Forwarded"));
        Assert.Null(seen.Header("X-Real-IP"));
    }

    [Fact]
    public async Task ForwardedHeaders_FromTrustedProxy_AreKeptAndExtended()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), "Inbound:TrustedProxies:0=127.0.0.0/8");
        var id = Guid.NewGuid().ToString("N");

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login",
            $"{RecordingUpstream.TestIdHeader}: {id}\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: chat.example.org\r\n"));

        Assert.Equal(200, response.StatusCode);
        var seen = upstream.Single(id);
        Assert.Equal("203.0.113.7, 127.0.0.1", seen.Header("X-Forwarded-For"));
        Assert.Equal("https", seen.Header("X-Forwarded-Proto"));
        Assert.Equal("chat.example.org", seen.Header("X-Forwarded-Host"));
    }

    [Fact]
    public async Task UpstreamConnections_AreKeptAliveAndReused()
    {
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var (id, response) = await _fixture.SendAsync("GET", "/_matrix/client/v3/login");
            Assert.Equal(200, response.StatusCode);
            ids.Add(id);
        }

        var connections = ids.Select(id => _fixture.Upstream.Single(id).ConnectionId).Distinct().ToList();
        Assert.Single(connections);
    }

    [Fact]
    public async Task ResponseFromHomeserver_IsRelayedWithStatusHeadersAndBody()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        upstream.Respond = async (context, _) =>
        {
            context.Response.StatusCode = 429;
            context.Response.Headers["Retry-After"] = "7";
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":7000}""");
        };
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));
        using var client = proxy.CreateClient();

        using var response = await client.PostAsync("/_matrix/client/v3/login", new StringContent("{}", Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("7", response.Headers.GetValues("Retry-After").Single());
        Assert.Equal("""{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":7000}""", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task HomeserverDown_Is502MatrixError()
    {
        var closedPort = LoopbackPorts.Tcp();
        await using var proxy = await ProxyHost.StartAsync($"http://127.0.0.1:{closedPort}");

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login"));

        RejectionTests.AssertMatrixError(response, 502, "M_UNKNOWN");
    }

    [Fact]
    public async Task HomeserverTooSlow_Is504MatrixError()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        upstream.Respond = async (context, _) => await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), "Inbound:UpstreamTimeout=00:00:00.500");

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login"));

        RejectionTests.AssertMatrixError(response, 504, "M_UNKNOWN");
    }

    [Fact]
    public async Task HomeserverAcceptsButNeverAnswers_Is504()
    {
        // A listener that accepts connections and never reads or writes: the worst kind of upstream.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = new List<TcpClient>();
        var acceptLoop = Task.Run(async () =>
        {
            while (true)
            {
                accepted.Add(await silent.AcceptTcpClientAsync(TestContext.Current.CancellationToken));
            }
        }, TestContext.Current.CancellationToken);
        await using var proxy = await ProxyHost.StartAsync($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}", "Inbound:UpstreamTimeout=00:00:00.500");

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login"));

        RejectionTests.AssertMatrixError(response, 504, "M_UNKNOWN");
        silent.Stop();
        accepted.ForEach(c => c.Dispose());
        _ = acceptLoop.Exception;
    }

    [Fact]
    public async Task DeclaredBodyOverLimit_Is413BeforeTheBodyIsRead()
    {
        var id = Guid.NewGuid().ToString("N");
        // Only the headers are sent: an answer proves the proxy did not wait for the 100 MB.
        var request = $"POST /_matrix/client/v3/createRoom HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        RejectionTests.AssertMatrixError(response, 413, "M_TOO_LARGE");
        Assert.Equal("close", response.Header("Connection"));
        Assert.Empty(_fixture.Upstream.WithTestId(id));
    }

    [Fact]
    public async Task ChunkedBodyOverLimit_Is413()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), "Inbound:MaxJsonBodyBytes=1024");
        var chunk = new string('a', 512);
        var body = string.Concat(Enumerable.Repeat($"200\r\n{chunk}\r\n", 8)) + "0\r\n\r\n";
        var request = $"POST /_matrix/client/v3/createRoom HTTP/1.1\r\nHost: matrix.example.org\r\nAuthorization: Bearer t\r\nTransfer-Encoding: chunked\r\n\r\n{body}";

        var response = await RawHttp.SendAsync(proxy.InboundPort, request);

        RejectionTests.AssertMatrixError(response, 413, "M_TOO_LARGE");
    }

    [Fact]
    public async Task UploadLimit_AppliesToMediaOnly()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), "Inbound:MaxJsonBodyBytes=1024", "Inbound:MaxUploadBodyBytes=65536");
        var payload = new string('x', 4096);

        var upload = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("POST", "/_matrix/media/v3/upload?filename=a.bin", "Authorization: Bearer t\r\nContent-Type: application/octet-stream\r\n", payload));
        var json = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("POST", "/_matrix/client/v3/createRoom", "Authorization: Bearer t\r\n", payload));
        var tooBig = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("POST", "/_matrix/media/v3/upload", "Authorization: Bearer t\r\n", new string('x', 70000)));

        Assert.Equal(200, upload.StatusCode);
        Assert.Equal(4096, upstream.Requests.Single(r => r.RawTarget.StartsWith("/_matrix/media/v3/upload", StringComparison.Ordinal)).BodyLength);
        RejectionTests.AssertMatrixError(json, 413, "M_TOO_LARGE");
        RejectionTests.AssertMatrixError(tooBig, 413, "M_TOO_LARGE");
    }

    [Fact]
    public async Task ClientsOverOneConnection_AreServedInOrder()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _fixture.Proxy.InboundPort, TestContext.Current.CancellationToken);
        var stream = client.GetStream();
        var pipelined = "GET /_matrix/client/v3/login HTTP/1.1\r\nHost: a\r\n\r\nGET /_synapse/admin/v1/users HTTP/1.1\r\nHost: a\r\n\r\nGET /_matrix/client/versions HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(pipelined), TestContext.Current.CancellationToken);

        var responses = await RawHttp.ReadResponsesAsync(stream, 3, TestContext.Current.CancellationToken);
        var (first, second, third) = (responses[0], responses[1], responses[2]);

        Assert.Equal(200, first.StatusCode);
        RejectionTests.AssertMatrixError(second, 404, "M_UNRECOGNIZED");
        Assert.Equal(200, third.StatusCode);
        Assert.Contains("v1.11", third.BodyText);
    }
}
