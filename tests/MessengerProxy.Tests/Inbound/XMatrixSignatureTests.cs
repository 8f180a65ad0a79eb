using MessengerProxy.Inbound.ServerKeys;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// The proxy verifies X-Matrix signatures itself (issue 17 item 5): requests signed as Synapse signs them, keys
/// from a stand-in notary (the stand-in homeserver answering <c>POST /_matrix/key/v2/query</c> with self-signed
/// key responses), a clock the test moves.
/// </summary>
public sealed class XMatrixSignatureTests : IAsyncLifetime
{
    private const string Own = "matrix.example.org";
    private const string SendTarget = "/_matrix/federation/v1/send/txn1";
    private const string SentBody = """{ "pdus": [], "origin": "origin.example", "edus": [] }""";
    private const string CanonicalBody = """{"edus":[],"origin":"origin.example","pdus":[]}""";

    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly TestServerKey _origin = new("origin.example");
    private RecordingUpstream _homeserver = null!;
    private int _keyQueries;

    /// <summary>What the notary answers: the elements of its <c>server_keys</c> array.</summary>
    private string[] _notaryKeys = [];

    private int _notaryStatus = 200;

    public async ValueTask InitializeAsync()
    {
        _homeserver = await RecordingUpstream.StartAsync();
        _notaryKeys = [_origin.KeyResponse(_clock.GetUtcNow().AddHours(1))];
        _homeserver.Respond = async (context, request) =>
        {
            if (request.RawTarget == "/_matrix/key/v2/query")
            {
                Interlocked.Increment(ref _keyQueries);
                context.Response.StatusCode = _notaryStatus;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync($$"""{"server_keys":[{{string.Join(",", _notaryKeys)}}]}""");
                return;
            }

            await RecordingUpstream.DefaultRespondAsync(context, request);
        };
    }

    public async ValueTask DisposeAsync() => await _homeserver.DisposeAsync();

    private Task<ProxyHost> StartProxyAsync(params string[] extra) =>
        ProxyHost.StartAsync(_homeserver.BaseUri.ToString().TrimEnd('/'), builder => builder.Services.AddSingleton<TimeProvider>(_clock),
        [
            "Federation:Enforce=false",
            $"Federation:ServerName={Own}",
            "Federation:VerifySignatures=true",
            "Tim:InviteCheck=Client",
            .. extra,
        ]);

    private async Task<(string Id, RawResponse Response)> SendAsync(ProxyHost proxy, string method, string target, string? authorization, string body = "")
    {
        var id = Guid.NewGuid().ToString("N");
        var headers = $"{RecordingUpstream.TestIdHeader}: {id}\r\n" + (authorization is null ? "" : $"Authorization: {authorization}\r\n")
            + (body.Length > 0 ? "Content-Type: application/json\r\n" : "");
        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request(method, target, headers, body));
        return (id, response);
    }

    private Task<(string Id, RawResponse Response)> SendTransactionAsync(ProxyHost proxy, TestServerKey? signer = null, string? keyId = null, string destination = Own) =>
        SendAsync(proxy, "PUT", SendTarget, (signer ?? _origin).XMatrix("PUT", SendTarget, destination, CanonicalBody, keyId: keyId), SentBody);

    /// <summary>The proxy's own refusal (naming <paramref name="text"/>), and nothing reached the homeserver.</summary>
    private void AssertRefused((string Id, RawResponse Response) sent, int status, string errcode, string? text = null)
    {
        RejectionTests.AssertMatrixError(sent.Response, status, errcode);
        if (text is not null)
        {
            Assert.Contains(text, sent.Response.BodyText);
        }

        Assert.Empty(_homeserver.WithTestId(sent.Id));
    }

    private static async Task<string> MetricsAsync(ProxyHost proxy)
    {
        using var client = new HttpClient { BaseAddress = proxy.HealthUri };
        return await client.GetStringAsync("/metrics");
    }

    [Fact]
    public async Task SignedTransaction_WithItsBodyInAnyLayout_IsVerifiedAndForwardedByteForByte()
    {
        await using var proxy = await StartProxyAsync();
        var (id, response) = await SendTransactionAsync(proxy);

        Assert.True(response.StatusCode == 200, response.BodyText);
        Assert.Equal(SentBody, System.Text.Encoding.UTF8.GetString(Assert.Single(_homeserver.WithTestId(id)).Body));
        Assert.Contains("messengerproxy_inbound_xmatrix_signatures_total{result=\"verified\"} 1", await MetricsAsync(proxy));
        // The notary is asked for the key ID with a minimum validity (Synapse answers "all keys" from its cache only).
        var query = System.Text.Json.JsonDocument.Parse(Assert.Single(_homeserver.Requests, r => r.RawTarget == "/_matrix/key/v2/query").Body).RootElement;
        Assert.Equal(_clock.GetUtcNow().ToUnixTimeMilliseconds(),
            query.GetProperty("server_keys").GetProperty("origin.example").GetProperty(_origin.KeyId).GetProperty("minimum_valid_until_ts").GetInt64());
    }

    [Theory]
    [InlineData("/_matrix/federation/v1/event/$e%3Aorigin.example")]
    [InlineData("/_matrix/federation/v1/make_join/!r%3Aorigin.example/@u%3Aorigin.example?ver=10&ver=9")]
    public async Task SignedGet_WithRawTargetAndQuery_IsForwarded(string target)
    {
        await using var proxy = await StartProxyAsync();
        var (id, response) = await SendAsync(proxy, "GET", target, _origin.XMatrix("GET", target, Own));

        Assert.True(response.StatusCode == 200, response.BodyText);
        Assert.Single(_homeserver.WithTestId(id));
    }

    [Fact]
    public async Task SignedWithoutDestinationParameter_IsVerifiedWithOurName()
    {
        await using var proxy = await StartProxyAsync();
        var target = "/_matrix/federation/v1/event/$e";
        var (id, response) = await SendAsync(proxy, "GET", target, _origin.XMatrix("GET", target, Own, sendDestination: false));

        Assert.True(response.StatusCode == 200, response.BodyText);
        Assert.Single(_homeserver.WithTestId(id));
    }

    public static TheoryData<string, string, string> Forgeries => new()
    {
        // name, the target and body sent; the signature is always over SendTarget and CanonicalBody unless the name says otherwise
        { "tampered body", SendTarget, """{"pdus":[],"origin":"origin.example","edus":[{}]}""" },
        { "tampered uri", "/_matrix/federation/v1/send/txn2", SentBody },
        { "percent-decoded uri", "/_matrix/federation/v1/send/txn%31", SentBody },
    };

    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task TamperedRequest_Is401_AndNothingForwarded(string name, string target, string body)
    {
        await using var proxy = await StartProxyAsync();
        AssertRefused(await SendAsync(proxy, "PUT", target, _origin.XMatrix("PUT", SendTarget, Own, CanonicalBody), body), 401, "M_UNAUTHORIZED", "does not verify");
        Assert.Contains("result=\"bad_signature\"", await MetricsAsync(proxy));
        _ = name;
    }

    [Fact]
    public async Task SignedByAnotherKeyOfTheSameName_Is401()
    {
        await using var proxy = await StartProxyAsync();
        var impostor = new TestServerKey("origin.example");
        AssertRefused(await SendTransactionAsync(proxy, impostor), 401, "M_UNAUTHORIZED");
    }

    [Fact]
    public async Task WrongKeyId_Is401_AndNothingForwarded()
    {
        await using var proxy = await StartProxyAsync();
        AssertRefused(await SendTransactionAsync(proxy, keyId: "ed25519:other"), 401, "M_UNAUTHORIZED", "no such signing key");
    }

    [Fact]
    public async Task WrongDestination_Is401_EvenWhenSignedForIt_AndNoKeyIsFetched()
    {
        await using var proxy = await StartProxyAsync();
        AssertRefused(await SendTransactionAsync(proxy, destination: "other.example"), 401, "M_UNAUTHORIZED", "destination");
        Assert.Equal(0, _keyQueries);
    }

    [Fact]
    public async Task ExpiredKeyResponse_Is401()
    {
        _notaryKeys = [_origin.KeyResponse(_clock.GetUtcNow().AddMinutes(-1))];
        await using var proxy = await StartProxyAsync();
        AssertRefused(await SendTransactionAsync(proxy), 401, "M_UNAUTHORIZED", "expired");
    }

    [Fact]
    public async Task OldVerifyKey_IsAcceptedUntilItsExpiredTs()
    {
        var retired = new TestServerKey("origin.example", "ed25519:old");
        var current = new TestServerKey("origin.example", "ed25519:new");
        _notaryKeys = [current.KeyResponse(_clock.GetUtcNow().AddDays(1), oldKey: retired, oldKeyExpired: _clock.GetUtcNow().AddMinutes(10))];
        await using var proxy = await StartProxyAsync();

        var (accepted, first) = await SendTransactionAsync(proxy, retired);
        Assert.True(first.StatusCode == 200, first.BodyText);
        Assert.Single(_homeserver.WithTestId(accepted));

        _clock.Advance(TimeSpan.FromMinutes(11));
        AssertRefused(await SendTransactionAsync(proxy, retired), 401, "M_UNAUTHORIZED", "expired");
    }

    [Fact]
    public async Task KeyResponseWithABadSelfSignature_Is401()
    {
        // A notary (or anyone in between) handing out a key the origin never signed.
        _notaryKeys = [_origin.KeyResponse(_clock.GetUtcNow().AddHours(1), signer: new TestServerKey("origin.example"))];
        await using var proxy = await StartProxyAsync();
        AssertRefused(await SendTransactionAsync(proxy), 401, "M_UNAUTHORIZED", "keys are unavailable");
    }

    [Fact]
    public async Task ManyRequests_WithinValidUntil_CostOneKeyFetch_AndExpiryFetchesAgain()
    {
        await using var proxy = await StartProxyAsync();
        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
            SendTransactionAsync(proxy)));
        Assert.All(responses, r => Assert.True(r.Response.StatusCode == 200, r.Response.BodyText));
        Assert.Equal(1, _keyQueries);

        _clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal(200, (await SendTransactionAsync(proxy)).Response.StatusCode);
        Assert.Equal(1, _keyQueries);

        _notaryKeys = [_origin.KeyResponse(_clock.GetUtcNow().AddHours(1))];
        _clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(200, (await SendTransactionAsync(proxy)).Response.StatusCode);
        Assert.Equal(2, _keyQueries);
    }

    [Fact]
    public async Task UnknownKeyIds_RefetchAtMostOncePerInterval()
    {
        await using var proxy = await StartProxyAsync();
        for (var i = 0; i < 5; i++)
        {
            var (_, response) = await SendTransactionAsync(proxy, keyId: $"ed25519:made_up_{i}");
            RejectionTests.AssertMatrixError(response, 401, "M_UNAUTHORIZED");
        }

        Assert.Equal(1, _keyQueries);
        _clock.Advance(TimeSpan.FromSeconds(11));
        await SendTransactionAsync(proxy, keyId: "ed25519:made_up_again");
        Assert.Equal(2, _keyQueries);
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 2)]
    public async Task HeldServers_AreBounded_TheOneExpiringFirstMakesRoom(int maxServers, int expectedFetches)
    {
        var second = new TestServerKey("second.example");
        _notaryKeys = [_origin.KeyResponse(_clock.GetUtcNow().AddHours(1)), second.KeyResponse(_clock.GetUtcNow().AddHours(2))];
        await using var proxy = await StartProxyAsync($"Federation:MaxCachedServerKeys={maxServers}");

        foreach (var signer in new[] { _origin, second, _origin })
        {
            var (_, response) = await SendAsync(proxy, "PUT", SendTarget, signer.XMatrix("PUT", SendTarget, Own, CanonicalBody), SentBody);
            Assert.True(response.StatusCode == 200, response.BodyText);
        }

        Assert.Equal(expectedFetches, _keyQueries);
    }

    [Fact]
    public async Task NotaryDown_Is503_AndNothingForwarded()
    {
        _notaryStatus = 502;
        await using var proxy = await StartProxyAsync();
        AssertRefused(await SendTransactionAsync(proxy), 503, "M_UNKNOWN");
    }

    [Fact]
    public async Task UnlistedOrigin_KeysAreNeverFetched()
    {
        await using var registration = await FakeRegistrationService.StartAsync("listed.example");
        await using var proxy = await StartProxyAsync("Federation:Enforce=true", $"Federation:RegistrationServiceUrl={registration.Url}", "Federation:PollInterval=01:00:00");
        var store = proxy.Services.GetRequiredService<ServerKeyStore>();

        var lookup = await store.GetAsync("origin.example", _origin.KeyId, TestContext.Current.CancellationToken);

        Assert.Null(lookup.PublicKey);
        Assert.Equal(403, lookup.Error!.StatusCode);
        Assert.Equal(0, _keyQueries);
        AssertRefused(await SendTransactionAsync(proxy), 403, "M_FORBIDDEN");
        Assert.Equal(0, _keyQueries);
    }

    [Fact]
    public async Task MadeUpSignature_IsForwarded_OnlyWithVerificationOff()
    {
        const string Fake = "X-Matrix origin=\"origin.example\",destination=\"matrix.example.org\",key=\"ed25519:k\",sig=\"c2ln\"";
        await using (var verifying = await StartProxyAsync())
        {
            AssertRefused(await SendAsync(verifying, "PUT", SendTarget, Fake, SentBody), 401, "M_UNAUTHORIZED");
        }

        await using var off = await StartProxyAsync("Federation:VerifySignatures=false");
        var (forwarded, answer) = await SendAsync(off, "PUT", SendTarget, Fake, SentBody);
        Assert.Equal(200, answer.StatusCode);
        Assert.Single(_homeserver.WithTestId(forwarded));
    }

    [Fact]
    public async Task WithoutOwnServerName_VerificationFailsClosed()
    {
        await using var proxy = await StartProxyAsync("Federation:ServerName=");
        AssertRefused(await SendTransactionAsync(proxy), 401, "M_UNAUTHORIZED", "Federation:ServerName");
    }

    [Fact]
    public async Task KeyEndpoints_StayUnauthenticated()
    {
        await using var proxy = await StartProxyAsync();
        var (id, response) = await SendAsync(proxy, "GET", "/_matrix/key/v2/server", authorization: null);

        Assert.Equal(200, response.StatusCode);
        Assert.Single(_homeserver.WithTestId(id));
    }
}
