using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// Every Matrix domain a client request names must be federated: the user gets <c>403 M_FORBIDDEN</c> naming the
/// domain at once, and the homeserver never sees the request. The listed domains are ex.org and example.org.
/// </summary>
public sealed class ClientDomainPolicyTests : IClassFixture<ProxyFixture.Federated>
{
    private const string Auth = "Authorization: Bearer syt_token\r\n";
    private readonly ProxyFixture.Federated _fixture;

    public ClientDomainPolicyTests(ProxyFixture.Federated fixture) => _fixture = fixture;

    public static TheoryData<string, string, string> Unlisted => new()
    {
        // Member state events that invite, with the event type and the user ID encoded in every way the homeserver decodes.
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.member/@eve:evil.example", """{"membership":"invite"}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.member/%40eve%3Aevil.example", """{"membership":"invite"}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m%2Eroom%2Emember/@eve:evil.example", """{"membership":"invite","reason":"x"}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/%6d.room.member/@eve:evil.example", """{"membership":"invite"}""" },
        // createRoom: invite list and member events among initial_state.
        { "POST", "/_matrix/client/v3/createRoom", """{"invite":["@a:ex.org","@eve:evil.example"]}""" },
        { "POST", "/_matrix/client/v3/createRoom", """{"initial_state":[{"type":"m.room.member","state_key":"@eve:evil.example","content":{"membership":"invite"}}]}""" },
        { "POST", "/_matrix/client/v3/rooms/!r:ex.org/invite", """{"user_id":"@eve:EVIL.example:8448"}""" },
        // join and knock through servers named in the query (server_name of v1.11, via of v1.12) or by alias.
        { "POST", "/_matrix/client/v3/join/!r:ex.org?server_name=evil.example", "{}" },
        { "POST", "/_matrix/client/v3/join/!r:ex.org?server_name=ex.org&server_name=evil.example", "{}" },
        { "POST", "/_matrix/client/v3/join/!r:ex.org?via=evil.example", "{}" },
        { "POST", "/_matrix/client/v3/join/!r:ex.org?server%5Fname=evil.example", "{}" },
        { "POST", "/_matrix/client/v3/join/%23room:evil.example", "{}" },
        { "POST", "/_matrix/client/v3/knock/!r:ex.org?server_name=evil.example", "{}" },
        { "POST", "/_matrix/client/v3/knock/%23room%3Aevil.example", "{}" },
        // Profiles, presence and per-user paths of another server's users.
        { "GET", "/_matrix/client/v3/profile/@eve:evil.example", "" },
        { "GET", "/_matrix/client/v3/profile/%40eve%3Aevil.example/displayname", "" },
        { "GET", "/_matrix/client/v3/profile/@eve:evil.example/avatar_url", "" },
        { "GET", "/_matrix/client/v3/presence/@eve:evil.example/status", "" },
        { "GET", "/_matrix/client/v3/user/@eve:evil.example/filter/1", "" },
        // Keys and to-device messages for another server's users.
        { "POST", "/_matrix/client/v3/keys/query", """{"device_keys":{"@a:ex.org":[],"@eve:evil.example":[]}}""" },
        { "POST", "/_matrix/client/v3/keys/claim", """{"one_time_keys":{"@eve:evil.example":{"DEV":"signed_curve25519"}}}""" },
        { "PUT", "/_matrix/client/v3/sendToDevice/m.room.encrypted/t1", """{"messages":{"@eve:evil.example":{"*":{}}}}""" },
        // Room directories and aliases of another server.
        { "GET", "/_matrix/client/v3/publicRooms?server=evil.example", "" },
        { "POST", "/_matrix/client/v3/publicRooms?server=evil.example", "{}" },
        { "GET", "/_matrix/client/v3/directory/room/%23room:evil.example", "" },
        { "GET", "/_matrix/client/v3/directory/room/%23room%3Aevil.example", "" },
        // Media of another server.
        { "GET", "/_matrix/client/v1/media/download/evil.example/abc", "" },
        { "GET", "/_matrix/media/v3/thumbnail/evil.example/abc?width=1&height=1", "" },
    };

    [Theory]
    [MemberData(nameof(Unlisted))]
    public async Task RequestNamingAnUnlistedDomain_Is403NamingIt_AndNeverForwarded(string method, string target, string body)
    {
        var (id, response) = await _fixture.SendAsync(method, target, Auth, body);

        RejectionTests.AssertMatrixError(response, 403, "M_FORBIDDEN");
        using var error = JsonDocument.Parse(response.Body);
        Assert.Equal("evil.example is not part of the federation", error.RootElement.GetProperty("error").GetString());
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }

    public static TheoryData<string, string, string> Allowed => new()
    {
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.member/@bob:example.org", """{"membership":"invite"}""" },
        // Kicks and bans of a remote user name no server to contact; other state events have no user in their key.
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.member/@eve:evil.example", """{"membership":"ban"}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.topic/@eve:evil.example", """{"membership":"invite"}""" },
        // (Two requests, since the TIM rule single-invitee allows one invitee per createRoom.)
        { "POST", "/_matrix/client/v3/createRoom", """{"invite":["@a:ex.org"],"initial_state":[{"type":"m.room.topic","state_key":"","content":{"topic":"t"}}]}""" },
        { "POST", "/_matrix/client/v3/createRoom", """{"initial_state":[{"type":"m.room.member","state_key":"@b:matrix.example.org","content":{"membership":"invite"}},{"type":"m.room.topic","state_key":"","content":{"topic":"t"}}]}""" },
        { "POST", "/_matrix/client/v3/join/!r:evil.example?server_name=ex.org&via=example.org", "{}" },
        { "POST", "/_matrix/client/v3/join/%23room:ex.org", "{}" },
        { "GET", "/_matrix/client/v3/profile/@me:matrix.example.org", "" },
        { "GET", "/_matrix/client/v3/profile/@bob:ex.org/displayname", "" },
        { "POST", "/_matrix/client/v3/keys/query", """{"device_keys":{"@a:ex.org":[],"@me:matrix.example.org":[]}}""" },
        { "GET", "/_matrix/client/v3/publicRooms", "" },
        { "GET", "/_matrix/client/v3/publicRooms?server=example.org", "" },
        { "GET", "/_matrix/client/v3/directory/room/%23room:matrix.example.org", "" },
        { "PUT", "/_matrix/client/v3/sendToDevice/m.room.encrypted/t2", """{"messages":{"@me:matrix.example.org":{"*":{}}}}""" },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public async Task RequestNamingOnlyFederatedDomains_IsForwarded(string method, string target, string body)
    {
        var (id, response) = await _fixture.SendAsync(method, target, Auth, body);

        Assert.Equal(200, response.StatusCode);
        Assert.Single(_fixture.Upstream.WithTestId(id));
    }

    [Theory]
    [InlineData("POST", "/_matrix/client/v3/rooms/!r:ex.org/invite", """{"user_id":"@a:ex.org","user_id":"@eve:evil.example"}""", "M_BAD_JSON")]
    [InlineData("POST", "/_matrix/client/v3/createRoom", """{"invite":"@eve:evil.example"}""", "M_BAD_JSON")]
    [InlineData("POST", "/_matrix/client/v3/createRoom", """{"initial_state":{"type":"m.room.member"}}""", "M_BAD_JSON")]
    [InlineData("POST", "/_matrix/client/v3/keys/query", """{"device_keys":["@eve:evil.example"]}""", "M_BAD_JSON")]
    [InlineData("POST", "/_matrix/client/v3/keys/query", "[]", "M_BAD_JSON")]
    [InlineData("GET", "/_matrix/client/v3/profile/eve", "", "M_INVALID_PARAM")]
    [InlineData("POST", "/_matrix/client/v3/join/%23noserver", "{}", "M_INVALID_PARAM")]
    public async Task InspectedValueOfTheWrongShape_Is400_AndNeverForwarded(string method, string target, string body, string errcode)
    {
        var (id, response) = await _fixture.SendAsync(method, target, Auth, body);

        RejectionTests.AssertMatrixError(response, 400, errcode);
        Assert.Empty(_fixture.Upstream.HeadsWithTestId(id));
    }
}
