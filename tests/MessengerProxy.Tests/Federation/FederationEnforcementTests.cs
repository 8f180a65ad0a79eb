using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.Inbound;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.Federation;

/// <summary>The inbound proxy enforcing the federation list it gets from the registration service.</summary>
public sealed partial class FederationEnforcementTests : IAsyncLifetime
{
    private const string Own = "matrix.example.org";

    private readonly string _directory = Directory.CreateTempSubdirectory("mp-fed-").FullName;
    private RecordingUpstream _homeserver = null!;
    private FakeRegistrationService _registration = null!;

    private string CacheFile => Path.Combine(_directory, "federation-list.json");

    public async ValueTask InitializeAsync()
    {
        _homeserver = await RecordingUpstream.StartAsync();
        _registration = await FakeRegistrationService.StartAsync("listed.example", "partner.example.org");
    }

    public async ValueTask DisposeAsync()
    {
        await _registration.DisposeAsync();
        await _homeserver.DisposeAsync();
        TestDirectories.Delete(_directory);
    }

    private Task<ProxyHost> StartProxyAsync(Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null, params string[] extra) =>
        ProxyHost.StartAsync(_homeserver.BaseUri.ToString().TrimEnd('/'), configure,
        [
            $"Federation:RegistrationServiceUrl={_registration.Url}",
            $"Federation:ServerName={Own}",
            $"Federation:CacheFile={CacheFile}",
            "Federation:PollInterval=01:00:00",
            // Invite permissions need an admin API; InvitePermissionTests has a stand-in homeserver with one.
            "Tim:InviteCheck=Client",
            .. extra,
        ]);

    /// <summary>Waits (bounded, as a hang guard) until the proxy's first fetch of the list has completed.</summary>
    private static async Task WaitForListAsync(ProxyHost proxy)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var readiness = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));
            using var body = JsonDocument.Parse(readiness.Body);
            if (body.RootElement.GetProperty("components").GetProperty("federation-list").GetProperty("status").GetString() == "UP")
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail("the proxy never loaded the federation list");
    }

    private static string XMatrix(string originPart) => $"Authorization: X-Matrix {originPart},destination=\"{Own}\",key=\"ed25519:k\",sig=\"c2ln\"\r\n";

    private static async Task<(string Id, RawResponse Response)> SendAsync(ProxyHost proxy, string method, string target, string headers = "", string body = "")
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request(method, target, $"{RecordingUpstream.TestIdHeader}: {id}\r\n{headers}", body));
        return (id, response);
    }

    [Theory]
    [InlineData("origin=\"listed.example\"")]
    [InlineData("origin=listed.example")]
    [InlineData("origin=\"LISTED.Example:8448\"")]
    [InlineData("origin=listed.example:443")]
    public async Task InboundFederation_FromListedOrigin_IsForwarded(string originPart)
    {
        await using var proxy = await StartProxyAsync();
        var (id, response) = await SendAsync(proxy, "PUT", "/_matrix/federation/v1/send/txn1", XMatrix(originPart), """{"pdus":[],"edus":[]}""");

        Assert.Equal(200, response.StatusCode);
        Assert.Single(_homeserver.WithTestId(id));
    }

    [Theory]
    [InlineData("", 401, "M_UNAUTHORIZED")]
    [InlineData("Authorization: Bearer syt_token\r\n", 401, "M_UNAUTHORIZED")]
    [InlineData("Authorization: X-Matrix key=\"ed25519:k\",sig=\"c2ln\"\r\n", 401, "M_UNAUTHORIZED")]
    [InlineData("Authorization: X-Matrix origin=\"listed.example\",origin=\"evil.example\",key=k,sig=s\r\n", 401, "M_UNAUTHORIZED")]
    [InlineData("Authorization: X-Matrix origin=\"evil example\",key=k,sig=s\r\n", 401, "M_UNAUTHORIZED")]
    [InlineData("Authorization: X-Matrix origin=listed.example,key=k,sig=s\r\nAuthorization: X-Matrix origin=evil.example,key=k,sig=s\r\n", 401, "M_UNAUTHORIZED")]
    [InlineData("Authorization: X-Matrix origin=\"evil.example\",key=k,sig=s\r\n", 403, "M_FORBIDDEN")]
    [InlineData("Authorization: X-Matrix origin=\"listed.example.evil.example\",key=k,sig=s\r\n", 403, "M_FORBIDDEN")]
    [InlineData("Authorization: X-Matrix origin=\"sub.listed.example\",key=k,sig=s\r\n", 403, "M_FORBIDDEN")]
    public async Task InboundFederation_WithoutListedOrigin_IsRefused(string headers, int status, string errcode)
    {
        await using var proxy = await StartProxyAsync();
        var (id, response) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", headers);

        RejectionTests.AssertMatrixError(response, status, errcode);
        Assert.Empty(_homeserver.WithTestId(id));
        if (status == 403)
        {
            Assert.Contains("is not part of the federation", response.BodyText);
        }
    }

    [Theory]
    [InlineData("GET", "/_matrix/key/v2/server")]
    [InlineData("GET", "/_matrix/key/v2/query/evil.example")]
    [InlineData("GET", "/.well-known/matrix/client")]
    [InlineData("GET", "/_matrix/federation/v1/openid/userinfo?access_token=abc")]
    public async Task UnauthenticatedFederationEndpoints_AreExempt(string method, string target)
    {
        await using var proxy = await StartProxyAsync();
        var (id, response) = await SendAsync(proxy, method, target);

        Assert.Equal(200, response.StatusCode);
        Assert.Single(_homeserver.WithTestId(id));
    }

    [Fact]
    public async Task FederationVersion_IsExempt_OnlyWithTheTimRulebookOff()
    {
        // v1.11 leaves /version unauthenticated; the TIM override (A_26331) is switched off here.
        await using var proxy = await StartProxyAsync(null, "Tim:Enabled=false");
        var (id, response) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/version");

        Assert.Equal(200, response.StatusCode);
        Assert.Single(_homeserver.WithTestId(id));
    }

    [Theory]
    [InlineData("", 401, "M_UNAUTHORIZED")]
    [InlineData("Authorization: X-Matrix origin=\"evil.example\",key=k,sig=s\r\n", 403, "M_FORBIDDEN")]
    public async Task FederationVersion_UnderTheTimRulebook_NeedsAListedXMatrixOrigin(string headers, int status, string errcode)
    {
        await using var proxy = await StartProxyAsync();
        await WaitForListAsync(proxy);
        var (refusedId, refused) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/version", headers);
        var (allowedId, allowed) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/version", XMatrix("origin=\"listed.example\""));

        RejectionTests.AssertMatrixError(refused, status, errcode);
        Assert.Empty(_homeserver.HeadsWithTestId(refusedId));
        Assert.Equal(200, allowed.StatusCode);
        Assert.Single(_homeserver.WithTestId(allowedId));
    }

    [Fact]
    public async Task UnknownDomain_TriggersOneImmediateRefresh_SharedByConcurrentRequests()
    {
        await using var proxy = await StartProxyAsync(null, "Federation:UnknownDomainRefreshInterval=00:10:00");
        await WaitForListAsync(proxy);
        var (_, first) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=listed.example"));
        Assert.Equal(200, first.StatusCode);
        var before = _registration.ListRequests;

        // The new member appears at the registration service after the proxy fetched its list.
        _registration.Publish("listed.example", "partner.example.org", "newcomer.example");
        _registration.Delay = TimeSpan.FromMilliseconds(300);
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=newcomer.example"))));

        Assert.All(concurrent, r => Assert.Equal(200, r.Response.StatusCode));
        Assert.Equal(before + 1, _registration.ListRequests);

        // Within the interval another unknown domain is refused without asking again.
        var (_, refused) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=stranger.example"));
        RejectionTests.AssertMatrixError(refused, 403, "M_FORBIDDEN");
        Assert.Equal(before + 1, _registration.ListRequests);
    }

    [Fact]
    public async Task ListOlderThanMaxAge_FailsClosed_AndReadinessGoesDown()
    {
        var clock = new ShiftedTime();
        await using var proxy = await StartProxyAsync(b => b.Services.AddSingleton<TimeProvider>(clock), "Federation:MaxAge=3.00:00:00");
        await WaitForListAsync(proxy);
        var (_, fresh) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=listed.example"));
        Assert.Equal(200, fresh.StatusCode);

        _registration.Available = false;
        clock.Offset = TimeSpan.FromHours(73);

        var (id, stale) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=listed.example"));
        RejectionTests.AssertMatrixError(stale, 403, "M_FORBIDDEN");
        Assert.Contains("Federation is suspended", stale.BodyText);
        Assert.Empty(_homeserver.WithTestId(id));

        // Local traffic is unaffected: invites to this server's own users still pass.
        var (ownId, own) = await SendAsync(proxy, "POST", "/_matrix/client/v3/rooms/!r:matrix.example.org/invite", "Authorization: Bearer t\r\n", $$"""{"user_id":"@bob:{{Own}}"}""");
        Assert.Equal(200, own.StatusCode);
        Assert.Single(_homeserver.WithTestId(ownId));

        var readiness = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));
        Assert.Equal(503, readiness.StatusCode);
        using var body = JsonDocument.Parse(readiness.Body);
        Assert.Equal("DOWN", body.RootElement.GetProperty("components").GetProperty("federation-list").GetProperty("status").GetString());
        Assert.Equal("DEGRADED", body.RootElement.GetProperty("components").GetProperty("registration-service").GetProperty("status").GetString());

        // The registration service comes back: the next refresh (once the refresh interval has passed)
        // confirms the list and federation resumes.
        _registration.Available = true;
        clock.Offset += TimeSpan.FromMinutes(1);
        var (_, resumed) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=partner.example.org"));
        Assert.Equal(200, resumed.StatusCode);
    }

    [Fact]
    public async Task NoListEverLoaded_FailsClosed()
    {
        _registration.Available = false;
        await using var proxy = await StartProxyAsync();

        var (id, response) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=listed.example"));

        RejectionTests.AssertMatrixError(response, 403, "M_FORBIDDEN");
        Assert.Contains("no federation list has been loaded", response.BodyText);
        Assert.Empty(_homeserver.WithTestId(id));
        var readiness = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));
        Assert.Equal(503, readiness.StatusCode);
    }

    [Fact]
    public async Task EmptyList_FailsClosedForEveryoneButThisServer()
    {
        _registration.Publish();
        await using var proxy = await StartProxyAsync();

        var (_, remote) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=listed.example"));
        var (_, own) = await SendAsync(proxy, "GET", "/_matrix/client/v1/media/download/matrix.example.org/abc", "Authorization: Bearer t\r\n");

        RejectionTests.AssertMatrixError(remote, 403, "M_FORBIDDEN");
        Assert.Equal(200, own.StatusCode);
    }

    [Fact]
    public async Task Restart_WhileRegistrationServiceIsDown_EnforcesTheLastGoodList()
    {
        await using (var first = await StartProxyAsync())
        {
            var (_, warm) = await SendAsync(first, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=listed.example"));
            Assert.Equal(200, warm.StatusCode);
            await first.Services.GetRequiredService<MessengerProxy.Federation.FederationListCache>().PersistedAsync();
        }

        Assert.True(File.Exists(CacheFile));
        _registration.Available = false;
        await using var second = await StartProxyAsync();

        var (allowedId, allowed) = await SendAsync(second, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=listed.example"));
        var (_, refused) = await SendAsync(second, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=evil.example"));

        Assert.Equal(200, allowed.StatusCode);
        Assert.Single(_homeserver.WithTestId(allowedId));
        RejectionTests.AssertMatrixError(refused, 403, "M_FORBIDDEN");
        var readiness = await RawHttp.SendAsync(second.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));
        Assert.Equal(200, readiness.StatusCode);
        using var body = JsonDocument.Parse(readiness.Body);
        Assert.Equal("UP", body.RootElement.GetProperty("components").GetProperty("federation-list").GetProperty("status").GetString());
        Assert.Equal("DEGRADED", body.RootElement.GetProperty("components").GetProperty("registration-service").GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("""{"user_id":"@bob:partner.example.org"}""", 200)]
    [InlineData("""{"user_id":"@bob:matrix.example.org"}""", 200)]
    [InlineData("""{"user_id":"@bob:PARTNER.example.org:8448"}""", 200)]
    [InlineData("""{"id_server":"id.example.org","medium":"email","address":"bob@x.org"}""", 200)]
    [InlineData("""{"user_id":"@eve:evil.example","reason":"hi"}""", 403)]
    [InlineData("""{"user_id":"eve"}""", 400)]
    [InlineData("""{"user_id":42}""", 400)]
    [InlineData("""not json""", 400)]
    public async Task Invite_InviteeMustBeFederated(string body, int status)
    {
        await using var proxy = await StartProxyAsync();
        var (id, response) = await SendAsync(proxy, "POST", "/_matrix/client/v3/rooms/!r:matrix.example.org/invite", "Authorization: Bearer t\r\n", body);

        Assert.Equal(status, response.StatusCode);
        if (status == 200)
        {
            // The buffered body still reaches the homeserver byte for byte.
            Assert.Equal(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(body))), _homeserver.Single(id).BodySha256);
        }
        else
        {
            Assert.Empty(_homeserver.WithTestId(id));
        }

        if (status == 403)
        {
            Assert.Contains("evil.example is not part of the federation", response.BodyText);
        }
    }

    [Theory]
    [InlineData("""{"name":"room"}""", 200)]
    // (At most one invitee: the TIM rule single-invitee refuses two, whatever their domains.)
    [InlineData("""{"invite":["@a:partner.example.org"]}""", 200)]
    [InlineData("""{"invite":["@b:matrix.example.org"]}""", 200)]
    [InlineData("""{"invite":["@a:partner.example.org","@eve:evil.example"]}""", 403)]
    [InlineData("""{"invite":"@a:partner.example.org"}""", 400)]
    [InlineData("""{"invite":[null]}""", 400)]
    public async Task CreateRoom_InviteesMustBeFederated(string body, int status)
    {
        await using var proxy = await StartProxyAsync();
        var (id, response) = await SendAsync(proxy, "POST", "/_matrix/client/v3/createRoom", "Authorization: Bearer t\r\n", body);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(status == 200 ? 1 : 0, _homeserver.WithTestId(id).Count);
    }

    [Theory]
    [InlineData("/_matrix/client/v1/media/download/partner.example.org/abc", 200)]
    [InlineData("/_matrix/client/v1/media/download/partner.example.org%3A8448/abc/file.png", 200)]
    [InlineData("/_matrix/client/v1/media/thumbnail/matrix.example.org/abc?width=32&height=32", 200)]
    [InlineData("/_matrix/media/v3/download/evil.example/abc", 403)]
    [InlineData("/_matrix/media/v3/thumbnail/evil.example/abc?width=32&height=32", 403)]
    [InlineData("/_matrix/client/v1/media/download/evil.example%3A443/abc", 403)]
    [InlineData("/_matrix/client/v1/media/download/evil%20example/abc", 400)]
    public async Task MediaFromOtherServers_MustBeFederated(string target, int status)
    {
        await using var proxy = await StartProxyAsync();
        var (id, response) = await SendAsync(proxy, "GET", target, "Authorization: Bearer t\r\n");

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(status == 200 ? 1 : 0, _homeserver.WithTestId(id).Count);
    }

    [Fact]
    public async Task Support_IsFetchedFromTheRegistrationServiceForThisServerName()
    {
        await using var proxy = await StartProxyAsync();

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/support"));

        // The stand-in has no support endpoint: 404 from it, relayed as M_NOT_FOUND, asked at the right path.
        RejectionTests.AssertMatrixError(response, 404, "M_NOT_FOUND");
        Assert.Contains(_registration.Requests, r => r.RawTarget == "/backend/well-known-support/matrix.example.org");
    }

    [Fact]
    public async Task Metrics_ShowTheListInForce()
    {
        await using var proxy = await StartProxyAsync();
        await SendAsync(proxy, "GET", "/_matrix/federation/v1/event/$e", XMatrix("origin=listed.example"));

        var text = (await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.Contains("messengerproxy_federation_list_domains 2", text);
        Assert.Contains("messengerproxy_federation_list_version 1", text);
        Assert.Contains("messengerproxy_federation_refreshes_total{outcome=\"updated\"}", text);
    }

    /// <summary>Real time plus an adjustable offset, to age the list without waiting.</summary>
    private sealed class ShiftedTime : TimeProvider
    {
        public TimeSpan Offset { get; set; }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
    }
}
