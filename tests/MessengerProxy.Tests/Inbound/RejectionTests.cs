using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Inbound;

/// <summary>What is not a Matrix v1.11 endpoint, or is malformed, is answered by the proxy and never reaches the homeserver.</summary>
public sealed class RejectionTests : IClassFixture<ProxyFixture>
{
    private const string Auth = "Authorization: Bearer syt_token\r\n";
    private readonly ProxyFixture _fixture;

    public RejectionTests(ProxyFixture fixture) => _fixture = fixture;

    [Theory]
    // Endpoints of later spec versions
    [InlineData("GET", "/_matrix/client/v1/auth_metadata")]
    [InlineData("POST", "/_matrix/client/v3/rooms/!r:ex.org/report")]
    [InlineData("PUT", "/_matrix/client/v3/profile/@u:ex.org/m.custom_key")]
    [InlineData("GET", "/_matrix/client/v3/profile/@u:ex.org/io.element.timezone")]
    [InlineData("POST", "/_matrix/client/v3/users/@u:ex.org/report")]
    [InlineData("GET", "/_matrix/client/v1/room_summary/!r:ex.org")]
    [InlineData("GET", "/_matrix/client/v1/media/download/ex.org/abc/name/extra")]
    // Unstable, legacy, and homeserver-specific namespaces
    [InlineData("GET", "/_matrix/client/unstable/org.matrix.msc3575/sync")]
    [InlineData("POST", "/_matrix/client/unstable/org.matrix.msc4108/rendezvous")]
    [InlineData("GET", "/_matrix/client/r0/sync")]
    [InlineData("GET", "/_synapse/admin/v1/users")]
    [InlineData("GET", "/_synapse/admin/v2/users/@admin:ex.org")]
    [InlineData("GET", "/_synapse/client/oidc/callback")]
    [InlineData("GET", "/_synapse/metrics")]
    [InlineData("GET", "/health")]
    [InlineData("GET", "/actuator/health/readiness")]
    [InlineData("GET", "/metrics")]
    [InlineData("GET", "/_matrix/key/v2/server/ed25519:auto")]
    // Path tricks around the allowlist
    [InlineData("GET", "/_matrix/client/v3/../../_synapse/admin/v1/users")]
    [InlineData("GET", "/_matrix/client/v3/%2e%2e/%2e%2e/_synapse/admin/v1/users")]
    [InlineData("GET", "/_matrix/client/v3/%2E%2E/%2E%2E/_synapse/admin/v1/users")]
    [InlineData("GET", "/_matrix/client/v3/rooms/%2e%2e/joined_members")]
    [InlineData("GET", "/_matrix/client/v3/rooms/./joined_members")]
    [InlineData("GET", "/_matrix/client/v3/./sync")]
    [InlineData("GET", "/_matrix/client/v3//sync")]
    [InlineData("GET", "//_matrix/client/v3/sync")]
    [InlineData("GET", "/_matrix/client/v3/sync/")]
    [InlineData("GET", "/_matrix/client/v3/sync;.js")]
    [InlineData("GET", "/_MATRIX/client/v3/sync")]
    [InlineData("GET", "/_matrix/Client/v3/sync")]
    [InlineData("GET", "/_matrix%2Fclient/v3/sync")]
    [InlineData("GET", "/_matrix%2fclient%2fv3%2fsync")]
    [InlineData("GET", "/_matrix/client/%76%33/sync")]
    [InlineData("GET", "/_matrix/client/versions/")]
    [InlineData("GET", "/_matrix/client/versions/..")]
    [InlineData("GET", "/.well-known/matrix/../../_synapse/admin/v1/users")]
    [InlineData("PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.name/./")]
    [InlineData("PUT", "/_matrix/client/v3/rooms/!r:ex.org/state//")]
    public async Task UnknownEndpoint_Is404Unrecognized_AndNeverForwarded(string method, string target)
    {
        var (id, response) = await _fixture.SendAsync(method, target, Auth);

        AssertMatrixError(response, 404, "M_UNRECOGNIZED");
        Assert.Empty(_fixture.Upstream.WithTestId(id));
    }

    [Theory]
    [InlineData("DELETE", "/_matrix/client/v3/sync", "GET, HEAD, OPTIONS")]
    [InlineData("POST", "/_matrix/client/versions", "GET, HEAD, OPTIONS")]
    [InlineData("PATCH", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/1", "PUT, OPTIONS")]
    [InlineData("TRACE", "/_matrix/client/versions", "GET, HEAD, OPTIONS")]
    [InlineData("GET", "/_matrix/federation/v1/send/txn1", "PUT, OPTIONS")]
    [InlineData("PUT", "/_matrix/client/v3/rooms/!r:ex.org/report/$e", "POST, OPTIONS")]
    public async Task KnownPathWithWrongMethod_Is405Unrecognized_WithAllowHeader(string method, string target, string allow)
    {
        var (id, response) = await _fixture.SendAsync(method, target, Auth);

        AssertMatrixError(response, 405, "M_UNRECOGNIZED");
        Assert.Equal(allow, response.Header("Allow"));
        Assert.Empty(_fixture.Upstream.WithTestId(id));
    }

    [Theory]
    [InlineData("http://matrix.example.org/_matrix/client/versions")]
    [InlineData("*")]
    [InlineData("/_matrix/client/v3\\sync")]
    [InlineData("/_matrix/client/v3/profile/a|b")]
    [InlineData("/_matrix/client/v3/profile/%zz")]
    [InlineData("/_matrix/client/v3/profile/%01")]
    [InlineData("/_matrix/client/v3/profile/@u%0d%0aX-Injected:%20yes")]
    public async Task MalformedTarget_Is400_AndNeverForwarded(string target)
    {
        var (id, response) = await _fixture.SendAsync(target == "*" ? "OPTIONS" : "GET", target, Auth);

        AssertMatrixError(response, 400, "M_UNRECOGNIZED");
        Assert.Empty(_fixture.Upstream.WithTestId(id));
    }

    [Fact]
    public async Task AuthenticatedClientEndpoint_WithoutToken_Is401MissingToken()
    {
        var (id, response) = await _fixture.SendAsync("GET", "/_matrix/client/v3/sync?since=s1");
        AssertMatrixError(response, 401, "M_MISSING_TOKEN");
        Assert.Empty(_fixture.Upstream.WithTestId(id));

        var (queryId, viaQuery) = await _fixture.SendAsync("GET", "/_matrix/client/v3/sync?since=s1&access_token=abc");
        Assert.Equal(200, viaQuery.StatusCode);
        Assert.Single(_fixture.Upstream.WithTestId(queryId));

        // Optional or absent authentication in the spec: no token needed.
        var (loginId, login) = await _fixture.SendAsync("GET", "/_matrix/client/v3/login");
        Assert.Equal(200, login.StatusCode);
        Assert.Single(_fixture.Upstream.WithTestId(loginId));
    }

    [Fact]
    public async Task Preflight_ForKnownPath_IsForwardedWithoutToken_UnknownIs404()
    {
        var (id, response) = await _fixture.SendAsync("OPTIONS", "/_matrix/client/v3/sync", "Origin: https://app.element.io\r\nAccess-Control-Request-Method: GET\r\n");
        Assert.Equal(200, response.StatusCode);
        Assert.Equal("OPTIONS", _fixture.Upstream.Single(id).Method);

        var (unknownId, unknown) = await _fixture.SendAsync("OPTIONS", "/_synapse/admin/v1/users");
        AssertMatrixError(unknown, 404, "M_UNRECOGNIZED");
        Assert.Empty(_fixture.Upstream.WithTestId(unknownId));
    }

    [Theory]
    [InlineData("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n", 400)]
    [InlineData("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "2\r\n{}\r\n0\r\n\r\n", 400)]
    [InlineData("Transfer-Encoding: gzip, chunked\r\n", "2\r\n{}\r\n0\r\n\r\n", 501)]
    public async Task AmbiguousFraming_IsRefusedAndConnectionClosed(string headers, string body, int status)
    {
        var id = Guid.NewGuid().ToString("N");
        var request = $"POST /_matrix/client/v3/createRoom HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}{headers}\r\n{body}"
            + "GET /_matrix/client/versions HTTP/1.1\r\nHost: smuggled\r\n\r\n";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        AssertMatrixError(response, status, status == 400 ? "M_UNKNOWN" : "M_UNRECOGNIZED");
        Assert.Equal("close", response.Header("Connection"));
        Assert.Empty(_fixture.Upstream.WithTestId(id));
        Assert.DoesNotContain(_fixture.Upstream.Requests, r => r.Header("Host") == "smuggled");
    }

    [Theory]
    [InlineData("Content-Length: 2\r\nContent-Length: 3\r\n")]
    [InlineData("Content-Length: 2\r\nContent-Length: 2\r\n")]
    [InlineData("Content-Length: 2, 3\r\n")]
    [InlineData("Content-Length: -1\r\n")]
    [InlineData("Transfer-Encoding: chunked, identity\r\n")]
    [InlineData("Content-Length : 2\r\n")]
    [InlineData("X-Folded: a\r\n b\r\n")]
    [InlineData("Host: second.example\r\n")]
    [InlineData("X-Bad\u0001Name: 1\r\n")]
    [InlineData("X-Bad(Name): 1\r\n")]
    [InlineData("X-Control: a\u0001b\r\n")]
    [InlineData("X-Escape: \u001b[31m\r\n")]
    public async Task HeaderTricks_AreRejected_AndNeverForwarded(string headers)
    {
        var id = Guid.NewGuid().ToString("N");
        var request = $"POST /_matrix/client/v3/createRoom HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}{headers}\r\n{{}}x";

        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);

        Assert.Equal(400, response.StatusCode);
        Assert.Empty(_fixture.Upstream.WithTestId(id));
    }

    [Theory]
    [InlineData("GET /_matrix/client/versions HTTP/1.1\r\nConnection: close\r\n\r\n")]
    [InlineData("GET http://evil.example/_matrix/client/versions HTTP/1.1\r\nHost: matrix.example.org\r\n\r\n")]
    [InlineData("GET /_matrix/client/v3/profile/%00 HTTP/1.1\r\nHost: matrix.example.org\r\n\r\n")]
    [InlineData("GET /_matrix/client/v3/profile/caf\u00e9 HTTP/1.1\r\nHost: matrix.example.org\r\n\r\n")]
    [InlineData("GET /_matrix/client/versions HTTP/1.1 extra\r\nHost: matrix.example.org\r\n\r\n")]
    [InlineData("GET  /_matrix/client/versions HTTP/1.1\r\nHost: matrix.example.org\r\n\r\n")]
    [InlineData("GET /_matrix/client/versions HTTP/9.9\r\nHost: matrix.example.org\r\n\r\n")]
    [InlineData("\u0000GET /_matrix/client/versions HTTP/1.1\r\nHost: matrix.example.org\r\n\r\n")]
    public async Task MalformedRequestLine_IsRejectedByTheServer_AndNeverForwarded(string request)
    {
        var before = _fixture.Upstream.Requests.Count;
        var response = await RawHttp.SendAsync(_fixture.Proxy.InboundPort, request);
        Assert.InRange(response.StatusCode, 400, 505);
        Assert.Equal(before, _fixture.Upstream.Requests.Count);
    }

    internal static void AssertMatrixError(RawResponse response, int status, string errcode)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.StartsWith("application/json", response.Header("Content-Type"));
        Assert.Equal("*", response.Header("Access-Control-Allow-Origin"));
        using var body = JsonDocument.Parse(response.Body);
        Assert.Equal(errcode, body.RootElement.GetProperty("errcode").GetString());
        Assert.False(string.IsNullOrWhiteSpace(body.RootElement.GetProperty("error").GetString()));
        Assert.Equal(2, body.RootElement.EnumerateObject().Count());
    }
}
