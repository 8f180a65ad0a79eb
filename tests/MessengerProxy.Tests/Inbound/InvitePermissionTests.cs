using System.Text.Json;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// TIM rulebook 2 with a stand-in Synapse (whoami, admin login, admin account data): the invitee's permission
/// configuration decides inbound federation invites (v1 and v2), a client's /invite, createRoom and state-event
/// invites; the admin client logs in once; the caches expire, and writes and logouts through the proxy drop them.
/// Every refusal is asserted never to reach the homeserver.
/// </summary>
public sealed class InvitePermissionTests(InvitePermissionTests.Fixture fixture) : IClassFixture<InvitePermissionTests.Fixture>
{
    private const string Pro = "de.gematik.tim.account.permissionconfig.pro.v1";
    private const string BlockAll = """{"defaultSetting":"block all"}""";

    // --- federation invites ------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task FederationInvite_BlockAll_Is403CannotInviteThisUser_NeverForwarded(int version)
    {
        var bob = fixture.NewUser("bob", BlockAll);

        var (id, response) = await fixture.FederationInviteAsync(version, "@alice:clinic.example", bob);

        RejectionTests.AssertMatrixError(response, 403, "M_FORBIDDEN");
        Assert.Contains("Cannot invite this user", response.BodyText);
        Assert.Empty(fixture.Homeserver.Upstream.HeadsWithTestId(id));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task FederationInvite_AllowAll_OrNoConfiguration_IsForwardedAsSent(int version)
    {
        var configured = fixture.NewUser("bob", """{"defaultSetting":"allow all"}""");
        var unconfigured = fixture.NewUser("carol");

        var (id, response) = await fixture.FederationInviteAsync(version, "@alice:clinic.example", configured);
        var (otherId, other) = await fixture.FederationInviteAsync(version, "@alice:clinic.example", unconfigured);

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(200, other.StatusCode);
        Assert.Equal(fixture.LastInviteBody, fixture.Homeserver.Upstream.Single(otherId).Body);
        Assert.Single(fixture.Homeserver.Upstream.WithTestId(id));
    }

    public static TheoryData<string, string, bool> Exceptions => new()
    {
        // block all, inverted for the listed server or user
        { """{"defaultSetting":"block all","serverExceptions":{"clinic.example":{}}}""", "@alice:clinic.example", true },
        { """{"defaultSetting":"block all","serverExceptions":{"clinic.example":{}}}""", "@alice:other.example", false },
        { """{"defaultSetting":"block all","userExceptions":{"@alice:clinic.example":{}}}""", "@alice:clinic.example", true },
        { """{"defaultSetting":"block all","userExceptions":{"@alice:clinic.example":{}}}""", "@mallory:clinic.example", false },
        // allow all, inverted likewise
        { """{"defaultSetting":"allow all","serverExceptions":{"clinic.example":{}}}""", "@alice:clinic.example", false },
        { """{"defaultSetting":"allow all","userExceptions":{"@alice:clinic.example":{}}}""", "@alice:clinic.example", false },
        { """{"defaultSetting":"allow all","userExceptions":{"@alice:clinic.example":{}}}""", "@bert:clinic.example", true },
        // isInsuredPerson: the schema's object form and the bare string; the inviter's server's isInsurance decides
        { """{"defaultSetting":"block all","groupExceptions":[{"groupName":"isInsuredPerson"}]}""", "@ins:insurance.example", true },
        { """{"defaultSetting":"block all","groupExceptions":[{"groupName":"isInsuredPerson"}]}""", "@doc:clinic.example", false },
        { """{"defaultSetting":"block all","groupExceptions":["isInsuredPerson"]}""", "@ins:insurance.example", true },
        { """{"defaultSetting":"allow all","groupExceptions":[{"groupName":"isInsuredPerson"}]}""", "@ins:insurance.example", false },
        { """{"defaultSetting":"allow all","groupExceptions":[{"groupName":"isInsuredPerson"}]}""", "@doc:clinic.example", true },
    };

    [Theory]
    [MemberData(nameof(Exceptions))]
    public async Task Exceptions_InvertTheDefault_ForTheirServerUserOrGroup(string config, string inviter, bool allowed)
    {
        var bob = fixture.NewUser("bob", config);

        var (id, response) = await fixture.FederationInviteAsync(2, inviter, bob);

        Assert.Equal(allowed ? 200 : 403, response.StatusCode);
        Assert.Equal(allowed ? 1 : 0, fixture.Homeserver.Upstream.HeadsWithTestId(id).Count);
    }

    [Fact]
    public async Task EpaConfiguration_HasNoGroupExceptions_ProTypeWinsOverBasis()
    {
        var epa = fixture.NewUser("epa");
        fixture.Homeserver.SetAccountData(epa, "de.gematik.tim.account.permissionconfig.epa.v1", """{"defaultSetting":"block all","groupExceptions":[{"groupName":"isInsuredPerson"}]}""");
        var both = fixture.NewUser("both", """{"defaultSetting":"allow all"}""");
        fixture.Homeserver.SetAccountData(both, "de.gematik.tim.account.permissionconfig.v1", BlockAll);

        var (_, epaInvite) = await fixture.FederationInviteAsync(2, "@ins:insurance.example", epa);
        var (_, bothInvite) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", both);

        Assert.Equal(403, epaInvite.StatusCode);
        Assert.Equal(200, bothInvite.StatusCode);
    }

    public static TheoryData<string> MalformedConfigs => new()
    {
        "[]",
        "\"block all\"",
        """{"defaultSetting":"deny"}""",
        """{"defaultSetting":7,"serverExceptions":{"clinic.example":{}}}""",
        """{"serverExceptions":{"clinic.example":{}}}""",
    };

    [Theory]
    [MemberData(nameof(MalformedConfigs))]
    public async Task MalformedConfiguration_IsReadAsTheConfiguredDefault(string config)
    {
        var bob = fixture.NewUser("bob", config);

        var (_, allowed) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", bob);
        await using var strict = await fixture.StartProxyAsync("Tim:InvitePermissions:Default=BlockAll");
        var (_, refused) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", bob, strict);

        Assert.Equal(200, allowed.StatusCode);
        Assert.Equal(403, refused.StatusCode);
    }

    [Fact]
    public async Task ToleratedShapes_WrongTypedExceptionsIgnored_UnknownMembersIgnored_HugeMapIsMalformed()
    {
        var wrongTypes = fixture.NewUser("wt", """{"defaultSetting":"block all","serverExceptions":["clinic.example"],"userExceptions":"x","groupExceptions":{"groupName":"isInsuredPerson"},"extra":1}""");
        var unknown = fixture.NewUser("unk", """{"defaultSetting":"block all","serverExceptions":{"clinic.example":{"note":"x"}},"future":{"a":1}}""");
        var huge = fixture.NewUser("huge", "{\"defaultSetting\":\"block all\",\"userExceptions\":{"
            + string.Join(',', Enumerable.Range(0, 10_001).Select(i => $"\"@u{i}:clinic.example\":{{}}")) + "}}");

        var (_, wrongTypesInvite) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", wrongTypes);
        var (_, unknownInvite) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", unknown);
        var (_, hugeInvite) = await fixture.FederationInviteAsync(2, "@mallory:clinic.example", huge);

        Assert.Equal(403, wrongTypesInvite.StatusCode);
        Assert.Equal(200, unknownInvite.StatusCode);
        // More than Tim:InvitePermissions:MaxExceptions entries: malformed, so the default (allow all).
        Assert.Equal(200, hugeInvite.StatusCode);
    }

    public static TheoryData<int, string> MalformedInvites => new()
    {
        { 1, "[]" },
        { 1, """{"type":"m.room.member","sender":7,"state_key":"@bob:hs.example","content":{"membership":"invite"}}""" },
        { 1, """{"type":"m.room.member","sender":"@alice:clinic.example","content":{"membership":"invite"}}""" },
        { 1, """{"type":"m.room.member","sender":"@alice:clinic.example","state_key":"@bob:hs.example","content":{"membership":"join"}}""" },
        { 1, """{"type":"m.room.message","sender":"@alice:clinic.example","state_key":"@bob:hs.example","content":{"membership":"invite"}}""" },
        { 2, """{"type":"m.room.member","sender":"@alice:clinic.example","state_key":"@bob:hs.example","content":{"membership":"invite"}}""" },
        { 2, """{"event":"x","room_version":"10"}""" },
        { 2, """{"event":{"type":"m.room.member","sender":"alice","state_key":"@bob:hs.example","content":{"membership":"invite"}}}""" },
        { 2, """{"event":{"type":"m.room.member","sender":"@alice:clinic.example","state_key":"@bob:hs.example","content":[]}}""" },
    };

    [Theory]
    [MemberData(nameof(MalformedInvites))]
    public async Task MalformedFederationInvite_Is400_NeverForwarded(int version, string body)
    {
        var (id, response) = await fixture.SendAsync("PUT", $"/_matrix/federation/v{version}/invite/!r:clinic.example/$e1", fixture.XMatrix("clinic.example"), body);

        RejectionTests.AssertMatrixError(response, 400, "M_BAD_JSON");
        Assert.Empty(fixture.Homeserver.Upstream.HeadsWithTestId(id));
    }

    // --- client invites ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task ClientInvite_LocalInviteeBlocks_403WithTheReferenceText_RemoteInviteeNotAsked()
    {
        var bob = fixture.NewUser("bob", BlockAll);
        var logins = fixture.Homeserver.Count("/_synapse/admin/v1/users/");

        var (id, refused) = await fixture.SendAsync("POST", "/_matrix/client/v3/rooms/!r:hs.example/invite", fixture.Bearer("alice"), $$"""{"user_id":"{{bob}}"}""");
        var (remoteId, remote) = await fixture.SendAsync("POST", "/_matrix/client/v3/rooms/!r:hs.example/invite", fixture.Bearer("alice"), """{"user_id":"@bob:clinic.example"}""");

        RejectionTests.AssertMatrixError(refused, 403, "M_FORBIDDEN");
        Assert.Contains("The invite was blocked by the invitees policy", refused.BodyText);
        Assert.Empty(fixture.Homeserver.Upstream.HeadsWithTestId(id));
        Assert.Equal(200, remote.StatusCode);
        Assert.Single(fixture.Homeserver.Upstream.WithTestId(remoteId));
        Assert.Equal(logins + 1, fixture.Homeserver.Count("/_synapse/admin/v1/users/"));
    }

    [Fact]
    public async Task ClientInvite_UserExceptionNamesTheCaller_AsWhoamiResolvedIt()
    {
        var bob = fixture.NewUser("bob", "{\"defaultSetting\":\"block all\",\"userExceptions\":{\"" + TimHomeserver.User("alice") + "\":{}}}");

        var (_, alice) = await fixture.SendAsync("POST", "/_matrix/client/v3/rooms/!r:hs.example/invite", fixture.Bearer("alice"), $$"""{"user_id":"{{bob}}"}""");
        var (_, eve) = await fixture.SendAsync("POST", "/_matrix/client/v3/rooms/!r:hs.example/invite", fixture.Bearer("eve"), $$"""{"user_id":"{{bob}}"}""");
        var (_, byQuery) = await fixture.SendAsync("POST", "/_matrix/client/v3/rooms/!r:hs.example/invite?access_token=" + TimHomeserver.Token("alice"), body: $$"""{"user_id":"{{bob}}"}""");

        Assert.Equal(200, alice.StatusCode);
        Assert.Equal(403, eve.StatusCode);
        Assert.Equal(200, byQuery.StatusCode);
    }

    [Fact]
    public async Task CreateRoom_DirectInviteOfALocalUser_IsChecked()
    {
        var bob = fixture.NewUser("bob", BlockAll);
        var carol = fixture.NewUser("carol");

        var (id, refused) = await fixture.SendAsync("POST", "/_matrix/client/v3/createRoom", fixture.Bearer("alice"), $$"""{"is_direct":true,"preset":"trusted_private_chat","invite":["{{bob}}"]}""");
        var (stateId, byState) = await fixture.SendAsync("POST", "/_matrix/client/v3/createRoom", fixture.Bearer("alice"),
            $$$"""{"initial_state":[{"type":"m.room.member","state_key":"{{{bob}}}","content":{"membership":"invite"}}]}""");
        var (allowedId, allowed) = await fixture.SendAsync("POST", "/_matrix/client/v3/createRoom", fixture.Bearer("alice"), $$"""{"is_direct":true,"invite":["{{carol}}"]}""");

        RejectionTests.AssertMatrixError(refused, 403, "M_FORBIDDEN");
        Assert.Empty(fixture.Homeserver.Upstream.HeadsWithTestId(id));
        Assert.Equal(403, byState.StatusCode);
        Assert.Empty(fixture.Homeserver.Upstream.HeadsWithTestId(stateId));
        Assert.Equal(200, allowed.StatusCode);
        Assert.Single(fixture.Homeserver.Upstream.WithTestId(allowedId));
    }

    [Fact]
    public async Task StateEventInvite_IsChecked_OtherMembershipsAndEventsAreNot()
    {
        var bob = fixture.NewUser("bob", BlockAll);

        var (id, invite) = await fixture.SendAsync("PUT", $"/_matrix/client/v3/rooms/!r:hs.example/state/m.room.member/{Uri.EscapeDataString(bob)}", fixture.Bearer("alice"), """{"membership":"invite"}""");
        var (_, encodedType) = await fixture.SendAsync("PUT", $"/_matrix/client/v3/rooms/!r:hs.example/state/m%2Eroom.member/{bob}", fixture.Bearer("alice"), """{"membership":"invite"}""");
        var (_, ban) = await fixture.SendAsync("PUT", $"/_matrix/client/v3/rooms/!r:hs.example/state/m.room.member/{bob}", fixture.Bearer("alice"), """{"membership":"ban"}""");
        var (_, topic) = await fixture.SendAsync("PUT", "/_matrix/client/v3/rooms/!r:hs.example/state/m.room.topic/", fixture.Bearer("alice"), """{"membership":"invite"}""");

        Assert.Equal(403, invite.StatusCode);
        Assert.Empty(fixture.Homeserver.Upstream.HeadsWithTestId(id));
        Assert.Equal(403, encodedType.StatusCode);
        Assert.Equal(200, ban.StatusCode);
        Assert.Equal(200, topic.StatusCode);
    }

    [Fact]
    public async Task ClientMode_TheProxyChecksNothing_ButStillAnswersTheDefault()
    {
        var bob = fixture.NewUser("bob", BlockAll);
        await using var proxy = await fixture.StartProxyAsync("Tim:InviteCheck=Client");

        var (_, federation) = await fixture.FederationInviteAsync(1, "@alice:clinic.example", bob, proxy);
        var (_, client) = await fixture.SendAsync("POST", "/_matrix/client/v3/rooms/!r:hs.example/invite", fixture.Bearer("alice"), $$"""{"user_id":"{{bob}}"}""", proxy);
        var (_, read) = await fixture.SendAsync("GET", $"/_matrix/client/v3/user/{fixture.NewUser("dan")}/account_data/{Pro}", fixture.Bearer("dan"), proxy: proxy);

        Assert.Equal(200, federation.StatusCode);
        Assert.Equal(200, client.StatusCode);
        Assert.Equal(200, read.StatusCode);
        Assert.Equal("""{"defaultSetting":"allow all"}""", read.BodyText);
    }

    [Fact]
    public async Task UnknownToken_TheHomeserversRefusalIsRelayed_NeverForwarded()
    {
        var bob = fixture.NewUser("bob");

        var (id, response) = await fixture.SendAsync("POST", "/_matrix/client/v3/rooms/!r:hs.example/invite", "Authorization: Bearer nonsense\r\n", $$"""{"user_id":"{{bob}}"}""");

        RejectionTests.AssertMatrixError(response, 401, "M_UNKNOWN_TOKEN");
        Assert.Empty(fixture.Homeserver.Upstream.HeadsWithTestId(id));
    }

    // --- admin client ------------------------------------------------------------------------------------------------

    [Fact]
    public async Task HundredChecks_OneAdminLogin_AgainOnlyAfterA401()
    {
        await using var homeserver = await TimHomeserver.StartAsync();
        await using var proxy = await fixture.StartProxyAsync(homeserver);

        var invites = Enumerable.Range(0, 100).Select(i => fixture.FederationInviteAsync(2, "@alice:clinic.example", TimHomeserver.User($"u{i}"), proxy));
        var responses = await Task.WhenAll(invites);
        var before = homeserver.Logins;
        homeserver.RevokeAdminTokens();
        var (_, afterRevoke) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", TimHomeserver.User("fresh"), proxy);

        Assert.All(responses, r => Assert.Equal(200, r.Response.StatusCode));
        Assert.Equal(1, before);
        Assert.Equal(200, afterRevoke.StatusCode);
        Assert.Equal(2, homeserver.Logins);
    }

    [Fact]
    public async Task AdminApiUnreachable_FailsClosed_403_CountedAndLogged()
    {
        var logs = new LogCapture();
        await using var proxy = await fixture.StartProxyAsync(logs, $"Tim:Admin:HomeserverUrl=http://127.0.0.1:{LoopbackPorts.Tcp()}");
        var bob = fixture.NewUser("bob");

        var (id, response) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", bob, proxy);
        var metrics = (await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;
        var readiness = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));

        RejectionTests.AssertMatrixError(response, 403, "M_FORBIDDEN");
        Assert.Empty(fixture.Homeserver.Upstream.HeadsWithTestId(id));
        Assert.Contains("messengerproxy_tim_invite_check_failures_total{reason=\"login_failed\"} 1", metrics);
        Assert.Contains(logs.Lines, l => l.Contains("InviteCheckFailed", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains(bob, StringComparison.Ordinal) || l.Contains(TimHomeserver.AdminPassword, StringComparison.Ordinal));
        Assert.Equal(503, readiness.StatusCode);
        using var health = JsonDocument.Parse(readiness.Body);
        Assert.Equal("DOWN", health.RootElement.GetProperty("components").GetProperty("homeserver-admin").GetProperty("status").GetString());
    }

    [Fact]
    public async Task NoAdminCredentials_InvitesRefused_ReadinessSaysSo()
    {
        await using var proxy = await fixture.StartProxyAsync(fixture.Homeserver, withAdmin: false);

        var (_, response) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", fixture.NewUser("bob"), proxy);
        var readiness = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));

        Assert.Equal(403, response.StatusCode);
        using var health = JsonDocument.Parse(readiness.Body);
        var admin = health.RootElement.GetProperty("components").GetProperty("homeserver-admin");
        Assert.Contains("not configured", admin.GetProperty("description").GetString());
    }

    [Fact]
    public async Task Readiness_ChecksTheAdminCredentials()
    {
        var readiness = await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));

        using var health = JsonDocument.Parse(readiness.Body);
        Assert.Equal("UP", health.RootElement.GetProperty("components").GetProperty("homeserver-admin").GetProperty("status").GetString());
        Assert.Contains(fixture.Homeserver.Upstream.Requests, r => r.RawTarget == "/_synapse/admin/v1/background_updates/status");
    }

    [Theory]
    [InlineData("GET", "/_synapse/admin/v1/users/@bob:hs.example/accountdata")]
    [InlineData("DELETE", "/_synapse/admin/v2/rooms/!r:hs.example")]
    [InlineData("GET", "/_synapse/admin/v1/rooms")]
    public async Task AdminApi_StaysUnreachableFromOutside(string method, string target)
    {
        var (id, response) = await fixture.SendAsync(method, target, "Authorization: Bearer admin-1\r\n");

        RejectionTests.AssertMatrixError(response, 404, "M_UNRECOGNIZED");
        Assert.Empty(fixture.Homeserver.Upstream.HeadsWithTestId(id));
    }

    // --- caches and the account-data API -----------------------------------------------------------------------------

    [Fact]
    public async Task PermissionConfigWrite_ThroughTheProxy_TakesEffectAtOnce()
    {
        var bob = fixture.NewUser("bob", """{"defaultSetting":"allow all"}""");

        var (_, before) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", bob);
        var (_, write) = await fixture.SendAsync("PUT", $"/_matrix/client/v3/user/{bob}/account_data/{Pro}", fixture.Bearer(Localpart(bob)), BlockAll);
        var (_, after) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", bob);

        Assert.Equal(200, before.StatusCode);
        Assert.Equal(200, write.StatusCode);
        Assert.Equal(403, after.StatusCode);
    }

    [Fact]
    public async Task PermissionConfigCache_ReusedWithinItsTtl_ReadAgainAfter()
    {
        var bob = fixture.NewUser("bob", """{"defaultSetting":"allow all"}""");
        var reads = () => fixture.Homeserver.Upstream.Requests.Count(r => r.RawTarget == $"/_synapse/admin/v1/users/{Uri.EscapeDataString(bob)}/accountdata");

        await fixture.FederationInviteAsync(2, "@alice:clinic.example", bob);
        // Changed behind the proxy's back: seen only once the cached copy expires.
        fixture.Homeserver.SetAccountData(bob, Pro, BlockAll);
        var (_, cached) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", bob);
        fixture.Clock.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        var (_, expired) = await fixture.FederationInviteAsync(2, "@alice:clinic.example", bob);

        Assert.Equal(200, cached.StatusCode);
        Assert.Equal(403, expired.StatusCode);
        Assert.Equal(2, reads());
    }

    [Fact]
    public async Task TokenCache_WhoamiOnce_AgainAfterLogoutOrTtl()
    {
        var dave = "dave" + Guid.NewGuid().ToString("N")[..6];
        var carol = fixture.NewUser("carol");
        var whoamis = () => fixture.Homeserver.Upstream.Requests.Count(r => r.RawTarget == "/_matrix/client/v3/account/whoami" && r.Header("Authorization") == "Bearer " + TimHomeserver.Token(dave));
        async Task InviteAsync() => Assert.Equal(200, (await fixture.SendAsync("POST", "/_matrix/client/v3/rooms/!r:hs.example/invite", fixture.Bearer(dave), $$"""{"user_id":"{{carol}}"}""")).Response.StatusCode);

        await InviteAsync();
        await InviteAsync();
        var cached = whoamis();
        await fixture.SendAsync("POST", "/_matrix/client/v3/logout", fixture.Bearer(dave), "{}");
        await InviteAsync();
        var afterLogout = whoamis();
        await fixture.SendAsync("POST", "/_matrix/client/v3/logout/all", fixture.Bearer(dave), "{}");
        await InviteAsync();
        var afterLogoutAll = whoamis();
        fixture.Clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        await InviteAsync();

        Assert.Equal(1, cached);
        Assert.Equal(2, afterLogout);
        Assert.Equal(3, afterLogoutAll);
        Assert.Equal(4, whoamis());
    }

    [Theory]
    [InlineData("de.gematik.tim.account.permissionconfig.pro.v1")]
    [InlineData("de.gematik.tim.account.permissionconfig.v1")]
    [InlineData("de.gematik.tim.account.permissionconfig.epa.v1")]
    [InlineData("de%2Egematik.tim.account.permissionconfig.pro.v1")]
    public async Task PermissionConfigRead_TheHomeserversNotFound_IsTheDefault(string type)
    {
        var bob = fixture.NewUser("bob");
        var stored = fixture.NewUser("stored", """{"defaultSetting":"block all","userExceptions":{}}""");
        await using var strict = await fixture.StartProxyAsync("Tim:InvitePermissions:Default=BlockAll");

        var (_, missing) = await fixture.SendAsync("GET", $"/_matrix/client/v3/user/{bob}/account_data/{type}", fixture.Bearer(Localpart(bob)));
        var (_, missingStrict) = await fixture.SendAsync("GET", $"/_matrix/client/v3/user/{bob}/account_data/{type}", fixture.Bearer(Localpart(bob)), proxy: strict);
        var (_, existing) = await fixture.SendAsync("GET", $"/_matrix/client/v3/user/{stored}/account_data/{Pro}", fixture.Bearer(Localpart(stored)));
        var (_, other) = await fixture.SendAsync("GET", $"/_matrix/client/v3/user/{bob}/account_data/m.direct", fixture.Bearer(Localpart(bob)));

        Assert.Equal(200, missing.StatusCode);
        Assert.Equal("""{"defaultSetting":"allow all"}""", missing.BodyText);
        Assert.Equal("""{"defaultSetting":"block all"}""", missingStrict.BodyText);
        Assert.Equal(200, existing.StatusCode);
        Assert.Equal("""{"defaultSetting":"block all","userExceptions":{}}""", existing.BodyText);
        Assert.Equal(404, other.StatusCode);
        Assert.Contains("M_NOT_FOUND", other.BodyText);
    }

    [Fact]
    public async Task Refusal_IsCountedByRule_AndLoggedWithoutIdentifiers()
    {
        var bob = fixture.NewUser("bob", BlockAll);

        await fixture.FederationInviteAsync(1, "@alice:clinic.example", bob);
        var metrics = (await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.True(TimRulesTests.Count(metrics, "invite-permission") >= 1);
        Assert.Contains("messengerproxy_tim_invite_checks_total{point=\"federation_v1\",result=\"refused\"}", metrics);
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("by TIM rule invite-permission", StringComparison.Ordinal));
        Assert.DoesNotContain(fixture.Logs.Lines, l => l.Contains(bob, StringComparison.Ordinal) || l.Contains("tok-", StringComparison.Ordinal));
    }

    private static string Localpart(string userId) => userId[1..userId.IndexOf(':')];

    public sealed class Fixture : IAsyncLifetime
    {
        public TimHomeserver Homeserver { get; private set; } = null!;

        public FakeRegistrationService Registration { get; private set; } = null!;

        public ProxyHost Proxy { get; private set; } = null!;

        public ManualTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

        public LogCapture Logs { get; } = new();

        public byte[] LastInviteBody { get; private set; } = [];

        public async ValueTask InitializeAsync()
        {
            Homeserver = await TimHomeserver.StartAsync();
            Registration = await FakeRegistrationService.StartAsync(TimHomeserver.ServerName, "clinic.example", "insurance.example", "other.example");
            Registration.Insurances.Add("insurance.example");
            Registration.Publish(TimHomeserver.ServerName, "clinic.example", "insurance.example", "other.example");
            Proxy = await StartProxyAsync(Logs);
        }

        /// <summary>A fresh local user, with a Pro permission configuration when one is given.</summary>
        public string NewUser(string name, string? config = null)
        {
            var user = TimHomeserver.User($"{name}-{Guid.NewGuid().ToString("N")[..8]}");
            if (config is not null)
            {
                Homeserver.SetAccountData(user, Pro, config);
            }

            return user;
        }

        public Task<ProxyHost> StartProxyAsync(params string[] extra) => StartProxyAsync(Homeserver, withAdmin: true, logs: null, extra);

        public Task<ProxyHost> StartProxyAsync(LogCapture logs, params string[] extra) => StartProxyAsync(Homeserver, withAdmin: true, logs, extra);

        public Task<ProxyHost> StartProxyAsync(TimHomeserver homeserver, bool withAdmin = true) => StartProxyAsync(homeserver, withAdmin, logs: null, []);

        private Task<ProxyHost> StartProxyAsync(TimHomeserver homeserver, bool withAdmin, LogCapture? logs, string[] extra)
        {
            var settings = new List<string>
            {
                $"Federation:RegistrationServiceUrl={Registration.Url}",
                $"Federation:ServerName={TimHomeserver.ServerName}",
            };
            if (withAdmin)
            {
                settings.Add($"Tim:Admin:User={TimHomeserver.AdminUser}");
                settings.Add($"Tim:Admin:Password={TimHomeserver.AdminPassword}");
            }

            settings.AddRange(extra);
            var clock = Clock;
            return ProxyHost.StartAsync(homeserver.Url, b =>
            {
                b.Services.AddSingleton<TimeProvider>(clock);
                if (logs is not null)
                {
                    b.Logging.AddProvider(logs);
                    b.Logging.SetMinimumLevel(LogLevel.Debug);
                }
            }, [.. settings]);
        }

        public string Bearer(string localpart) => $"Authorization: Bearer {TimHomeserver.Token(localpart)}\r\n";

        public string XMatrix(string origin) => $"Authorization: X-Matrix origin=\"{origin}\",destination=\"{TimHomeserver.ServerName}\",key=\"ed25519:1\",sig=\"abc\"\r\n";

        public Task<(string TestId, RawResponse Response)> FederationInviteAsync(int version, string sender, string invitee, ProxyHost? proxy = null)
        {
            var invite = $$$"""{"type":"m.room.member","sender":"{{{sender}}}","state_key":"{{{invitee}}}","room_id":"!r:clinic.example","origin_server_ts":1,"content":{"membership":"invite"}}""";
            var body = version == 1 ? invite : $$"""{"event":{{invite}},"room_version":"10","invite_room_state":[]}""";
            LastInviteBody = System.Text.Encoding.UTF8.GetBytes(body);
            var origin = sender[(sender.IndexOf(':') + 1)..];
            return SendAsync("PUT", $"/_matrix/federation/v{version}/invite/!r:clinic.example/$e{Guid.NewGuid():N}", XMatrix(origin), body, proxy);
        }

        public async Task<(string TestId, RawResponse Response)> SendAsync(string method, string target, string headers = "", string body = "", ProxyHost? proxy = null)
        {
            var id = Guid.NewGuid().ToString("N");
            var response = await RawHttp.SendAsync((proxy ?? Proxy).InboundPort, RawHttp.Request(method, target, $"{RecordingUpstream.TestIdHeader}: {id}\r\n{headers}", body));
            return (id, response);
        }

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Registration.DisposeAsync();
            await Homeserver.DisposeAsync();
        }
    }
}
