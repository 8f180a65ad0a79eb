using System.Globalization;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// The TIM rulebook with the recording stand-in homeserver: every endpoint override and every room and content rule,
/// allowed and refused, each refusal asserted never to reach the homeserver (not even its request head).
/// </summary>
public sealed class TimRulesTests(TimRulesTests.Fixture fixture) : IClassFixture<TimRulesTests.Fixture>
{
    internal const string Auth = "Authorization: Bearer syt_caller_token\r\n";

    // --- 1. endpoint overrides ---------------------------------------------------------------------------------------

    public static TheoryData<string, string, int, string> FixedAnswers => new()
    {
        { "GET", "/_matrix/federation/v1/publicRooms", 403, "M_FORBIDDEN" },
        { "POST", "/_matrix/federation/v1/publicRooms", 403, "M_FORBIDDEN" },
        { "GET", "/_matrix/media/v3/preview_url?url=https%3A%2F%2Fexample.org", 404, "M_UNRECOGNIZED" },
        { "GET", "/_matrix/client/v1/media/preview_url?url=https%3A%2F%2Fexample.org", 404, "M_UNRECOGNIZED" },
        { "HEAD", "/_matrix/client/v1/media/preview_url?url=x", 404, "" },
        { "POST", "/_matrix/client/v1/login/get_token", 404, "M_NOT_FOUND" },
        { "GET", "/_matrix/client/v1/rooms/!r:ex.org/threads", 404, "M_UNRECOGNIZED" },
        { "GET", "/_matrix/client/v1/rooms/%21r%3Aex.org/threads?include=all", 404, "M_UNRECOGNIZED" },
    };

    [Theory]
    [MemberData(nameof(FixedAnswers))]
    public async Task OverriddenEndpoint_GetsTheFixedAnswer_NeverForwarded(string method, string target, int status, string errcode)
    {
        var body = method == "POST" ? "{}" : string.Empty;
        var (id, response) = await fixture.SendAsync(method, target, Auth, body);

        Assert.Equal(status, response.StatusCode);
        if (errcode.Length > 0)
        {
            RejectionTests.AssertMatrixError(response, status, errcode);
        }

        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
    }

    [Theory]
    [InlineData("/_matrix/client/v3/publicRooms")]
    [InlineData("/_matrix/client/v3/publicRooms?limit=10")]
    [InlineData("/_matrix/client/v3/directory/list/room/!r:ex.org")]
    public async Task DirectoryReads_NeedAnAccessToken(string target)
    {
        var (refusedId, refused) = await fixture.SendAsync("GET", target);
        var (allowedId, allowed) = await fixture.SendAsync("GET", target, Auth);
        var (queryId, byQuery) = await fixture.SendAsync("GET", target + (target.Contains('?') ? "&" : "?") + "access_token=t");

        RejectionTests.AssertMatrixError(refused, 401, "M_MISSING_TOKEN");
        Assert.Empty(fixture.Upstream.HeadsWithTestId(refusedId));
        Assert.Equal(200, allowed.StatusCode);
        Assert.Single(fixture.Upstream.WithTestId(allowedId));
        Assert.Equal(200, byQuery.StatusCode);
        Assert.Single(fixture.Upstream.WithTestId(queryId));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Authorization: Bearer t\r\n")]
    [InlineData("Authorization: X-Matrix origin\r\n")]
    public async Task FederationVersion_WithoutAValidXMatrixHeader_Is401(string headers)
    {
        var (id, response) = await fixture.SendAsync("GET", "/_matrix/federation/v1/version", headers);

        RejectionTests.AssertMatrixError(response, 401, "M_UNAUTHORIZED");
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task FederationVersion_WithXMatrix_IsForwarded()
    {
        var (id, response) = await fixture.SendAsync("GET", "/_matrix/federation/v1/version",
            "Authorization: X-Matrix origin=\"ex.org\",destination=\"matrix.example.org\",key=\"ed25519:1\",sig=\"abc\"\r\n");

        Assert.Equal(200, response.StatusCode);
        Assert.Single(fixture.Upstream.WithTestId(id));
    }

    [Fact]
    public async Task OverrideRowsSwitchedOff_ByTheOperator_BehaveAsInV111_OthersStay()
    {
        await using var proxy = await ProxyHost.StartAsync(fixture.Upstream.BaseUri.ToString().TrimEnd('/'),
            "Tim:Overrides:Disabled:0=media-preview-url", "Tim:Overrides:Disabled:1=federation-version-auth");

        var (previewId, preview) = await SendAsync(proxy, "GET", "/_matrix/media/v3/preview_url?url=x", Auth);
        var (versionId, version) = await SendAsync(proxy, "GET", "/_matrix/federation/v1/version");
        var (clientPreviewId, clientPreview) = await SendAsync(proxy, "GET", "/_matrix/client/v1/media/preview_url?url=x", Auth);

        Assert.Equal(200, preview.StatusCode);
        Assert.Single(fixture.Upstream.WithTestId(previewId));
        Assert.Equal(200, version.StatusCode);
        Assert.Single(fixture.Upstream.WithTestId(versionId));
        RejectionTests.AssertMatrixError(clientPreview, 404, "M_UNRECOGNIZED");
        Assert.Empty(fixture.Upstream.HeadsWithTestId(clientPreviewId));
    }

    [Fact]
    public async Task RulebookOff_APlainV111Proxy()
    {
        await using var proxy = await ProxyHost.StartAsync(fixture.Upstream.BaseUri.ToString().TrimEnd('/'), "Tim:Enabled=false");
        const string CreateRoom = """{"name":"plain","preset":"public_chat","invite":["@a:ex.org","@b:ex.org"]}""";

        var results = new[]
        {
            await SendAsync(proxy, "GET", "/_matrix/federation/v1/version"),
            await SendAsync(proxy, "GET", "/_matrix/federation/v1/publicRooms", "Authorization: X-Matrix origin=ex.org,key=\"k\",sig=\"s\"\r\n"),
            await SendAsync(proxy, "GET", "/_matrix/client/v1/media/preview_url?url=x", Auth),
            await SendAsync(proxy, "GET", "/_matrix/client/v3/publicRooms"),
            await SendAsync(proxy, "POST", "/_matrix/client/v3/register?kind=guest", body: "{}"),
            await SendAsync(proxy, "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t1", Auth, """{"m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}"""),
            await SendAsync(proxy, "PUT", "/_matrix/client/v3/rooms/!r:ex.org/redact/$ts-0:ex.org/t1", Auth, "{}"),
        };
        var (createId, create) = await SendAsync(proxy, "POST", "/_matrix/client/v3/createRoom", Auth, CreateRoom);

        Assert.All(results, r => Assert.Equal(200, r.Response.StatusCode));
        Assert.All(results, r => Assert.Single(fixture.Upstream.WithTestId(r.TestId)));
        Assert.Equal(200, create.StatusCode);
        Assert.Equal(CreateRoom, Encoding.UTF8.GetString(fixture.Upstream.Single(createId).Body));
    }

    // --- 2. room and content rules ------------------------------------------------------------------------------------

    public static TheoryData<string, string, string, int, string, string> Refused => new()
    {
        // room-version (A_26202, A_26203)
        { "POST", "/_matrix/client/v3/createRoom", """{"room_version":"11"}""", 400, "M_UNSUPPORTED_ROOM_VERSION", "room-version" },
        { "POST", "/_matrix/client/v3/createRoom", """{"room_version":"1"}""", 400, "M_UNSUPPORTED_ROOM_VERSION", "room-version" },
        { "POST", "/_matrix/client/v3/createRoom", """{"room_version":"10 "}""", 400, "M_UNSUPPORTED_ROOM_VERSION", "room-version" },
        { "POST", "/_matrix/client/v3/createRoom", """{"room_version":10}""", 400, "M_BAD_JSON", "room-version" },
        { "POST", "/_matrix/client/v3/rooms/!r:ex.org/upgrade", """{"new_version":"11"}""", 400, "M_UNSUPPORTED_ROOM_VERSION", "room-version" },
        { "POST", "/_matrix/client/v3/rooms/!r:ex.org/upgrade", """{"new_version":null}""", 400, "M_BAD_JSON", "room-version" },
        // single-invitee (A_25368-01): invite and the invites among initial_state
        { "POST", "/_matrix/client/v3/createRoom", """{"invite":["@a:ex.org","@b:ex.org"]}""", 403, "M_FORBIDDEN", "single-invitee" },
        { "POST", "/_matrix/client/v3/createRoom", """{"invite":["@a:ex.org"],"initial_state":[{"type":"m.room.member","state_key":"@b:ex.org","content":{"membership":"invite"}}]}""", 403, "M_FORBIDDEN", "single-invitee" },
        { "POST", "/_matrix/client/v3/createRoom", """{"invite":"@a:ex.org"}""", 400, "M_BAD_JSON", "single-invitee" },
        // forbidden-room-type (A_28596)
        { "POST", "/_matrix/client/v3/createRoom", """{"creation_content":{"type":"de.gematik.tim.roomtype.default.v2"}}""", 400, "M_BAD_JSON", "forbidden-room-type" },
        { "POST", "/_matrix/client/v3/createRoom", """{"creation_content":{"type":"de.gematik.tim.roomtype\u002edefault.v2"}}""", 400, "M_BAD_JSON", "forbidden-room-type" },
        { "POST", "/_matrix/client/v3/createRoom", """{"creation_content":{"type":1}}""", 400, "M_BAD_JSON", "forbidden-room-type" },
        { "POST", "/_matrix/client/v3/createRoom", """{"creation_content":"public"}""", 400, "M_BAD_JSON", "forbidden-room-type" },
        // public-room-not-federated (A_26515-01): only the shape can be refused; the rule itself rewrites
        { "POST", "/_matrix/client/v3/createRoom", """{"visibility":["public"]}""", 400, "M_BAD_JSON", "public-room-not-federated" },
        // public-join-rule (A_28271): every state table form, the event type compared decoded
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules/", """{"join_rule":"public"}""", 400, "M_INVALID_ROOM_STATE", "public-join-rule" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules", """{"join_rule":"public"}""", 400, "M_INVALID_ROOM_STATE", "public-join-rule" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules/x", """{"join_rule":"public"}""", 400, "M_INVALID_ROOM_STATE", "public-join-rule" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m%2Eroom.join_rules/", """{"join_rule":"public"}""", 400, "M_INVALID_ROOM_STATE", "public-join-rule" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/%6D.room.join%5Frules", """{"join_rule":"public"}""", 400, "M_INVALID_ROOM_STATE", "public-join-rule" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules/", """{"join_rule":"p\u0075blic"}""", 400, "M_INVALID_ROOM_STATE", "public-join-rule" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules/", """{"join_rule":["public"]}""", 400, "M_BAD_JSON", "public-join-rule" },
        // no-threads (A_25395-02): any event type, escapes in names and values decoded
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t1", """{"body":"x","m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}""", 400, "M_FORBIDDEN", "no-threads" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.encrypted/t2", """{"algorithm":"m.megolm.v1.aes-sha2","m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}""", 400, "M_FORBIDDEN", "no-threads" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t3", """{"m.relates\u005fto":{"rel_type":"m\u002ethread","event_id":"$root"}}""", 400, "M_FORBIDDEN", "no-threads" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t4", """{"m.relates_to":"m.thread"}""", 400, "M_BAD_JSON", "no-threads" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t5", """{"m.relates_to":{"rel_type":{"m.thread":1}}}""", 400, "M_BAD_JSON", "no-threads" },
        // reaction-single-emoji (A_26228-01)
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/t6", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍👍"}}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/t7", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"ok"}}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/t8", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"1"}}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/t9", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":""}}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/t10", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍 "}}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/t11", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":7}}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/t12", """{"m.relates_to":{"rel_type":"m.reference","event_id":"$e","key":"👍"}}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/t13", """{"m.relates_to":{"event_id":"$e","key":"👍"}}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/t14", """{"key":"👍"}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m%2Ereaction/t15", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"+1"}}""", 400, "M_BAD_JSON", "reaction-single-emoji" },
        // status-message-length: 251 code points (and 251 emoji, 502 UTF-16 units)
        { "PUT", "/_matrix/client/v3/presence/@me:ex.org/status", "{\"presence\":\"online\",\"status_msg\":\"" + new string('x', 251) + "\"}", 403, "M_TOO_LARGE", "status-message-length" },
        { "PUT", "/_matrix/client/v3/presence/@me:ex.org/status", "{\"presence\":\"online\",\"status_msg\":\"" + string.Concat(Enumerable.Repeat("😀", 251)) + "\"}", 403, "M_TOO_LARGE", "status-message-length" },
        { "PUT", "/_matrix/client/v3/presence/@me:ex.org/status", """{"presence":"online","status_msg":7}""", 400, "M_BAD_JSON", "status-message-length" },
        // guest-registration, with the query decoded as the homeserver decodes it
        { "POST", "/_matrix/client/v3/register?kind=guest", "{}", 403, "M_FORBIDDEN", "guest-registration" },
        { "POST", "/_matrix/client/v3/register?kind=%67uest", "{}", 403, "M_FORBIDDEN", "guest-registration" },
        { "POST", "/_matrix/client/v3/register?%6Bind=guest", "{}", 403, "M_FORBIDDEN", "guest-registration" },
        { "POST", "/_matrix/client/v3/register?kind=user&kind=guest", "{}", 403, "M_FORBIDDEN", "guest-registration" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task RuleBreakingRequest_IsRefused_NeverForwarded_CountedByRule(string method, string target, string body, int status, string errcode, string rule)
    {
        var before = Count(await fixture.MetricsAsync(), rule);

        var (id, response) = await fixture.SendAsync(method, target, Auth, body);

        RejectionTests.AssertMatrixError(response, status, errcode);
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
        Assert.Equal(before + 1, Count(await fixture.MetricsAsync(), rule));
    }

    public static TheoryData<string, string, string> Allowed => new()
    {
        { "POST", "/_matrix/client/v3/createRoom", """{"room_version":"9","invite":["@a:ex.org"]}""" },
        { "POST", "/_matrix/client/v3/createRoom", """{"room_version":"10","initial_state":[{"type":"m.room.member","state_key":"@b:ex.org","content":{"membership":"invite"}}]}""" },
        { "POST", "/_matrix/client/v3/createRoom", """{"room_version":"10","creation_content":{"type":"de.gematik.tim.roomtype.casereference.v1"}}""" },
        { "POST", "/_matrix/client/v3/createRoom", """{"room_version":"10","visibility":"public","creation_content":{"m.federate":false}}""" },
        { "POST", "/_matrix/client/v3/rooms/!r:ex.org/upgrade", """{"new_version":"10"}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules/", """{"join_rule":"invite"}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules", """{"join_rule":"knock"}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.topic/", """{"topic":"public","join_rule":"public"}""" },
        // No rule concerns a topic, so its body is not even parsed (a repeated member included).
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.topic/", """{"topic":"a","topic":"b"}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/a1", """{"msgtype":"m.text","body":"m.thread","m.relates_to":{"m.in_reply_to":{"event_id":"$e"}}}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/a2", """{"m.relates_to":{"rel_type":"m.replace","event_id":"$e"},"m.new_content":{"body":"x"}}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/a3", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍"}}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/a4", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍️"}}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/a5", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👩🏽‍🚀"}}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/a6", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"\ud83c\udde9\ud83c\uddea"}}""" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/a7", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"🫩"}}""" },
        { "PUT", "/_matrix/client/v3/presence/@me:ex.org/status", "{\"presence\":\"online\",\"status_msg\":\"" + string.Concat(Enumerable.Repeat("😀", 250)) + "\"}" },
        { "PUT", "/_matrix/client/v3/presence/@me:ex.org/status", """{"presence":"offline"}""" },
        { "POST", "/_matrix/client/v3/register", """{"username":"a"}""" },
        { "POST", "/_matrix/client/v3/register?kind=user", """{"username":"a"}""" },
        { "POST", "/_matrix/client/v3/register?kind=guests", """{"username":"a"}""" },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public async Task RequestWithinTheRules_IsForwardedAsSent(string method, string target, string body)
    {
        var (id, response) = await fixture.SendAsync(method, target, Auth, body);

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(body, Encoding.UTF8.GetString(fixture.Upstream.Single(id).Body));
    }

    [Theory]
    [InlineData("room-version")]
    [InlineData("no-threads")]
    public async Task RuleSwitchedOff_ByTheOperator_NoLongerRefuses(string rule)
    {
        await using var proxy = await ProxyHost.StartAsync(fixture.Upstream.BaseUri.ToString().TrimEnd('/'), $"Tim:Rules:Disabled:0={rule}");

        var (versionId, version) = await SendAsync(proxy, "POST", "/_matrix/client/v3/createRoom", Auth, """{"room_version":"11"}""");
        var (threadId, thread) = await SendAsync(proxy, "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t1", Auth, """{"m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}""");

        Assert.Equal(rule == "room-version" ? 200 : 400, version.StatusCode);
        Assert.Equal(rule == "no-threads" ? 200 : 400, thread.StatusCode);
        Assert.Equal(rule == "room-version" ? 1 : 0, fixture.Upstream.WithTestId(versionId).Count);
        Assert.Equal(rule == "no-threads" ? 1 : 0, fixture.Upstream.WithTestId(threadId).Count);
    }

    // --- 3. createRoom rewritten minimally -----------------------------------------------------------------------------

    [Fact]
    public async Task CreateRoom_WithoutRoomVersion_GetsTheDefault_EveryOtherByteKept()
    {
        // Unknown members, custom power levels, a number spelled 1.50e3, escapes, raw non-ASCII text and emoji.
        const string Body = """
            { "name" : "Café 😀 \u0041", "org.example.custom": {"nested": [1, 2.50, 1.50e3, null]},
              "power_level_content_override": {"users": {"@a:ex.org": 100}, "events": {"org.example.custom": 50}, "org.example.level": 7},
              "creation_content": {"org.example.key": true}, "preset": "private_chat" }
            """;

        var (id, response) = await fixture.SendAsync("POST", "/_matrix/client/v3/createRoom", Auth, Body);

        Assert.Equal(200, response.StatusCode);
        var received = fixture.Upstream.Single(id);
        var text = Encoding.UTF8.GetString(received.Body);
        Assert.Equal(received.Body.Length.ToString(CultureInfo.InvariantCulture), received.Header("Content-Length"));
        Assert.Null(received.Header("Transfer-Encoding"));
        AssertJsonEqual("""
            { "room_version": "10", "name": "Café 😀 A", "org.example.custom": {"nested": [1, 2.50, 1.50e3, null]},
              "power_level_content_override": {"users": {"@a:ex.org": 100}, "events": {"org.example.custom": 50}, "org.example.level": 7},
              "creation_content": {"org.example.key": true}, "preset": "private_chat" }
            """, received.Body);
        // Byte for byte: the original text follows the inserted member.
        Assert.Equal("{\"room_version\":\"10\"," + Body[1..], text);
    }

    public static TheoryData<string, string> PublicRooms => new()
    {
        // visibility public: creation_content added
        { """{"room_version":"10","visibility":"public","name":"n"}""", """{"room_version":"10","visibility":"public","name":"n","creation_content":{"m.federate":false}}""" },
        // preset public_chat with other creation_content keys: m.federate added beside them, room version added too
        { """{"preset":"public_chat","creation_content":{"org.example.key":{"a":[1]},"type":"org.example.space"}}""", """{"room_version":"10","preset":"public_chat","creation_content":{"m.federate":false,"org.example.key":{"a":[1]},"type":"org.example.space"}}""" },
        // m.federate true (or anything but false) replaced
        { """{"room_version":"9","visibility":"public","creation_content":{"a":1,"m.federate":true,"b":2}}""", """{"room_version":"9","visibility":"public","creation_content":{"a":1,"m.federate":false,"b":2}}""" },
        { """{"room_version":"9","visibility":"public","creation_content":{"m.federate":"no"}}""", """{"room_version":"9","visibility":"public","creation_content":{"m.federate":false}}""" },
        // an empty creation_content
        { """{"room_version":"9","visibility":"public","creation_content":{ }}""", """{"room_version":"9","visibility":"public","creation_content":{"m.federate":false}}""" },
        // a public join rule among initial_state makes the room public as well
        { """{"room_version":"10","preset":"private_chat","initial_state":[{"type":"m.room.join_rules","state_key":"","content":{"join_rule":"public"}}]}""", """{"room_version":"10","preset":"private_chat","initial_state":[{"type":"m.room.join_rules","state_key":"","content":{"join_rule":"public"}}],"creation_content":{"m.federate":false}}""" },
    };

    [Theory]
    [MemberData(nameof(PublicRooms))]
    public async Task PublicRoom_IsCreatedWithoutFederation_CustomFieldsKept(string body, string expected)
    {
        var before = await fixture.MetricsAsync();

        var (id, response) = await fixture.SendAsync("POST", "/_matrix/client/v3/createRoom", Auth, body);

        Assert.Equal(200, response.StatusCode);
        var received = fixture.Upstream.Single(id);
        AssertJsonEqual(expected, received.Body);
        Assert.Equal(received.Body.Length.ToString(CultureInfo.InvariantCulture), received.Header("Content-Length"));
        Assert.Equal(Count(before, "public-room-not-federated", "rule_rewrites_total") + 1, Count(await fixture.MetricsAsync(), "public-room-not-federated", "rule_rewrites_total"));
    }

    [Fact]
    public async Task CreateRoom_ChunkedAndWithAnUnrelatedContentType_RewrittenWithAContentLength()
    {
        const string Json = """{"preset":"public_chat"}""";
        var id = Guid.NewGuid().ToString("N");
        var chunked = $"{Json.Length:x}\r\n{Json}\r\n0\r\n\r\n";
        var request = $"POST /_matrix/client/v3/createRoom HTTP/1.1\r\nHost: matrix.example.org\r\nConnection: close\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}";

        var response = await RawHttp.SendAsync(fixture.Proxy.InboundPort, request);

        Assert.Equal(200, response.StatusCode);
        var received = fixture.Upstream.Single(id);
        AssertJsonEqual("""{"room_version":"10","preset":"public_chat","creation_content":{"m.federate":false}}""", received.Body);
        Assert.Equal(received.Body.Length.ToString(CultureInfo.InvariantCulture), received.Header("Content-Length"));
        Assert.Null(received.Header("Transfer-Encoding"));
    }

    [Fact]
    public async Task RoomVersions_Configurable()
    {
        await using var proxy = await ProxyHost.StartAsync(fixture.Upstream.BaseUri.ToString().TrimEnd('/'),
            "Tim:RoomVersions:Allowed:0=10", "Tim:RoomVersions:Allowed:1=11", "Tim:RoomVersions:Default=11");

        var (defaultId, created) = await SendAsync(proxy, "POST", "/_matrix/client/v3/createRoom", Auth, "{}");
        var (_, nine) = await SendAsync(proxy, "POST", "/_matrix/client/v3/createRoom", Auth, """{"room_version":"9"}""");
        var (upgradeId, upgrade) = await SendAsync(proxy, "POST", "/_matrix/client/v3/rooms/!r:ex.org/upgrade", Auth, """{"new_version":"11"}""");

        Assert.Equal(200, created.StatusCode);
        AssertJsonEqual("""{"room_version":"11"}""", fixture.Upstream.Single(defaultId).Body);
        RejectionTests.AssertMatrixError(nine, 400, "M_UNSUPPORTED_ROOM_VERSION");
        Assert.Equal(200, upgrade.StatusCode);
        Assert.Single(fixture.Upstream.WithTestId(upgradeId));
    }

    // --- redaction window (A_28358) -------------------------------------------------------------------------------------

    [Fact]
    public async Task Redaction_OfARecentEvent_IsForwarded_AgeReadWithTheCallersOwnToken()
    {
        var eventId = Fixture.EventAt(fixture.Clock.GetUtcNow() - TimeSpan.FromHours(23));
        var lookupsBefore = fixture.Upstream.Requests.Count(r => r.RawTarget.Contains("/event/", StringComparison.Ordinal));

        var (id, response) = await fixture.SendAsync("PUT", $"/_matrix/client/v3/rooms/%21r%3Aex.org/redact/{eventId}/t1", Auth, """{"reason":"typo"}""");

        Assert.Equal(200, response.StatusCode);
        Assert.Equal("""{"reason":"typo"}""", Encoding.UTF8.GetString(fixture.Upstream.Single(id).Body));
        var lookup = fixture.Upstream.Requests.Last(r => r.RawTarget == $"/_matrix/client/v3/rooms/%21r%3Aex.org/event/{eventId}");
        Assert.Equal("GET", lookup.Method);
        Assert.Equal("Bearer syt_caller_token", lookup.Header("Authorization"));
        Assert.Equal(lookupsBefore + 1, fixture.Upstream.Requests.Count(r => r.RawTarget.Contains("/event/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Redaction_OfAnOldEvent_Is403_NeverForwarded()
    {
        var eventId = Fixture.EventAt(fixture.Clock.GetUtcNow() - TimeSpan.FromHours(24) - TimeSpan.FromSeconds(1));
        var before = Count(await fixture.MetricsAsync(), "redaction-window");

        var (id, response) = await fixture.SendAsync("PUT", $"/_matrix/client/v3/rooms/!r:ex.org/redact/{eventId}/t1", Auth, "{}");

        RejectionTests.AssertMatrixError(response, 403, "M_FORBIDDEN");
        Assert.Equal("Events older than 24 hours cannot be redacted", JsonDocument.Parse(response.Body).RootElement.GetProperty("error").GetString());
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
        Assert.Equal(before + 1, Count(await fixture.MetricsAsync(), "redaction-window"));
    }

    [Fact]
    public async Task Redaction_WindowFollowsTheClock()
    {
        await using var clocked = await Fixture.StartWithClockAsync(fixture.Upstream, out var clock);
        var eventId = Fixture.EventAt(clock.GetUtcNow() - TimeSpan.FromHours(23) - TimeSpan.FromMinutes(59));

        var (firstId, first) = await SendAsync(clocked, "PUT", $"/_matrix/client/v3/rooms/!r:ex.org/redact/{eventId}/t1", Auth, "{}");
        clock.Advance(TimeSpan.FromMinutes(2));
        var (secondId, second) = await SendAsync(clocked, "PUT", $"/_matrix/client/v3/rooms/!r:ex.org/redact/{eventId}/t2", Auth, "{}");

        Assert.Equal(200, first.StatusCode);
        Assert.Single(fixture.Upstream.WithTestId(firstId));
        RejectionTests.AssertMatrixError(second, 403, "M_FORBIDDEN");
        Assert.Empty(fixture.Upstream.HeadsWithTestId(secondId));
    }

    [Fact]
    public async Task Redaction_TokenInTheQuery_IsTheOneTheLookupUses()
    {
        var eventId = Fixture.EventAt(fixture.Clock.GetUtcNow());

        var (id, response) = await fixture.SendAsync("PUT", $"/_matrix/client/v3/rooms/!q:ex.org/redact/{eventId}/t1?access_token=syt%5Fquery", body: "{}");

        Assert.Equal(200, response.StatusCode);
        Assert.Single(fixture.Upstream.WithTestId(id));
        var lookup = fixture.Upstream.Requests.Last(r => r.RawTarget.StartsWith($"/_matrix/client/v3/rooms/!q:ex.org/event/{eventId}", StringComparison.Ordinal));
        Assert.EndsWith("?access_token=syt_query", lookup.RawTarget, StringComparison.Ordinal);
        Assert.Null(lookup.Header("Authorization"));
    }

    [Theory]
    [InlineData("$forbidden:ex.org", 403, "M_FORBIDDEN")]
    [InlineData("%24missing%3Aex.org", 404, "M_NOT_FOUND")]
    [InlineData("$unknowntoken:ex.org", 401, "M_UNKNOWN_TOKEN")]
    public async Task Redaction_HomeserverRefusesToShowTheEvent_ItsAnswerRelayedAsItIs(string eventId, int status, string errcode)
    {
        var before = Count(await fixture.MetricsAsync(), "redaction-window");

        var (id, response) = await fixture.SendAsync("PUT", $"/_matrix/client/v3/rooms/!r:ex.org/redact/{eventId}/t1", Auth, "{}");

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/json", response.Header("Content-Type"));
        Assert.Equal(Fixture.RefusalBody(errcode), response.BodyText);
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
        // The homeserver's refusal, not the rule's.
        Assert.Equal(before, Count(await fixture.MetricsAsync(), "redaction-window"));
    }

    [Theory]
    [InlineData("$abort:ex.org", 502)]
    [InlineData("$nots:ex.org", 502)]
    [InlineData("$html:ex.org", 500)]
    public async Task Redaction_EventAgeUnknowable_IsAnErrorOfItsOwn_NeverForwarded(string eventId, int status)
    {
        var (id, response) = await fixture.SendAsync("PUT", $"/_matrix/client/v3/rooms/!r:ex.org/redact/{eventId}/t1", Auth, "{}");

        RejectionTests.AssertMatrixError(response, status, "M_UNKNOWN");
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
    }

    // --- bad input ------------------------------------------------------------------------------------------------------

    public static TheoryData<string, string, string, string, int, string> BadInput => new()
    {
        // Duplicate members: the homeserver keeps the last, a rule must not read the first.
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/b1", "", """{"m.relates_to":{"rel_type":"m.reference"},"m.relates_to":{"rel_type":"m.thread","event_id":"$e"}}""", 400, "M_BAD_JSON" },
        { "POST", "/_matrix/client/v3/createRoom", "", """{"room_version":"10","room_version":"11"}""", 400, "M_BAD_JSON" },
        { "POST", "/_matrix/client/v3/createRoom", "", """{"creation_content":{"m.federate":false,"m.federate":true},"visibility":"public"}""", 400, "M_BAD_JSON" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules/", "", """{"join_rule":"invite","join_\u0072ule":"public"}""", 400, "M_BAD_JSON" },
        // Bodies that are not objects.
        { "POST", "/_matrix/client/v3/createRoom", "", "[]", 400, "M_BAD_JSON" },
        { "POST", "/_matrix/client/v3/createRoom", "", "\"public\"", 400, "M_BAD_JSON" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/b2", "", "null", 400, "M_BAD_JSON" },
        { "PUT", "/_matrix/client/v3/presence/@me:ex.org/status", "", "42", 400, "M_BAD_JSON" },
        // Content-Type lies: the body is read as the homeserver reads it, JSON whatever the header says.
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/b3", "Content-Type: text/plain\r\n", """{"m.relates_to":{"rel_type":"m.thread","event_id":"$e"}}""", 400, "M_FORBIDDEN" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules/", "Content-Type: application/x-www-form-urlencoded\r\n", """{"join_rule":"public"}""", 400, "M_INVALID_ROOM_STATE" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/b4", "Content-Type: application/json; charset=utf-16\r\n", "\uFEFF{}", 400, "M_NOT_JSON" },
        // Not JSON, or JSON the homeserver would read differently.
        { "POST", "/_matrix/client/v3/createRoom", "", """{"room_version":"10""", 400, "M_NOT_JSON" },
        { "PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/b5", "", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"\ud83d"}}""", 400, "M_BAD_JSON" },
        { "POST", "/_matrix/client/v3/createRoom", "", new string('[', 200) + new string(']', 200), 400, "M_NOT_JSON" },
    };

    [Theory]
    [MemberData(nameof(BadInput))]
    public async Task BadInput_ClearMatrixError_NeverForwarded(string method, string target, string headers, string body, int status, string errcode)
    {
        var (id, response) = await fixture.SendAsync(method, target, Auth + headers, body);

        RejectionTests.AssertMatrixError(response, status, errcode);
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task BadInput_GzipEncodedBody_IsNotJson_NeverForwarded()
    {
        using var compressed = new MemoryStream();
        await using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionMode.Compress, leaveOpen: true))
        {
            gzip.Write("""{"m.relates_to":{"rel_type":"m.thread","event_id":"$e"}}"""u8);
        }

        var id = Guid.NewGuid().ToString("N");
        var head = $"PUT /_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/gz HTTP/1.1\r\nHost: matrix.example.org\r\nConnection: close\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Content-Encoding: gzip\r\nContent-Length: {compressed.Length}\r\n\r\n";

        var response = await RawHttp.SendAsync(fixture.Proxy.InboundPort, [.. Encoding.ASCII.GetBytes(head), .. compressed.ToArray()]);

        RejectionTests.AssertMatrixError(response, 400, "M_NOT_JSON");
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task BadInput_HugeBody_Is413BeforeItIsRead_NeverForwarded()
    {
        // Only the head is sent: whatever a rule would find past the limit is never forwarded unseen.
        var id = Guid.NewGuid().ToString("N");
        var head = $"PUT /_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/huge HTTP/1.1\r\nHost: matrix.example.org\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n{Auth}Content-Length: 13200000\r\n\r\n";

        var response = await RawHttp.SendAsync(fixture.Proxy.InboundPort, head);

        RejectionTests.AssertMatrixError(response, 413, "M_TOO_LARGE");
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
    }

    // --- 5. logs and metrics ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Refusal_IsLoggedByRuleAndRequirement_WithoutBodyOrIdentifiers()
    {
        var earlier = fixture.Logs.Lines.Count;
        var (_, response) = await fixture.SendAsync("PUT", "/_matrix/client/v3/rooms/!secretroom:ex.org/send/m.room.message/log1", Auth,
            """{"body":"confidential words","m.relates_to":{"rel_type":"m.thread","event_id":"$secretevent"}}""");

        RejectionTests.AssertMatrixError(response, 400, "M_FORBIDDEN");
        var line = Assert.Single(fixture.Logs.Lines.Skip(earlier), l => l.Contains("RuleRefused", StringComparison.Ordinal));
        Assert.Contains("no-threads", line, StringComparison.Ordinal);
        Assert.Contains("A_25395-02", line, StringComparison.Ordinal);
        Assert.Contains("/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}", line, StringComparison.Ordinal);
        var ours = fixture.Logs.Lines.Where(l => l.Split(' ')[1].StartsWith("MessengerProxy.", StringComparison.Ordinal)).ToList();
        Assert.All(ours, l => Assert.DoesNotContain("secret", l, StringComparison.Ordinal));
        Assert.All(ours, l => Assert.DoesNotContain("confidential", l, StringComparison.Ordinal));
    }

    [Fact]
    public async Task OverrideRefusal_IsCountedByItsId()
    {
        var before = Count(await fixture.MetricsAsync(), "federation-public-rooms");

        await fixture.SendAsync("GET", "/_matrix/federation/v1/publicRooms");

        Assert.Equal(before + 1, Count(await fixture.MetricsAsync(), "federation-public-rooms"));
    }

    private static async Task<(string TestId, RawResponse Response)> SendAsync(ProxyHost proxy, string method, string target, string headers = "", string body = "")
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request(method, target, $"{RecordingUpstream.TestIdHeader}: {id}\r\n{headers}", body));
        return (id, response);
    }

    internal static void AssertJsonEqual(string expected, byte[] actual)
    {
        using var expectedDocument = JsonDocument.Parse(expected);
        using var actualDocument = JsonDocument.Parse(actual);
        Assert.True(JsonElement.DeepEquals(expectedDocument.RootElement, actualDocument.RootElement), $"expected {expected}, got {Encoding.UTF8.GetString(actual)}");
    }

    internal static long Count(string metrics, string rule, string counter = "rule_refusals_total")
    {
        var prefix = $"messengerproxy_inbound_{counter}{{rule=\"{rule}\"}} ";
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line[prefix.Length..].Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The stand-in homeserver answers event look-ups by event ID: <c>$ts-&lt;ms&gt;:…</c> has that
    /// <c>origin_server_ts</c>; <c>$forbidden</c>, <c>$missing</c>, <c>$unknowntoken</c> are refused as Synapse
    /// would; <c>$abort</c> drops the connection, <c>$nots</c> lacks the timestamp, <c>$html</c> is a proxy's error page.
    /// </summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public RecordingUpstream Upstream { get; private set; } = null!;

        public ProxyHost Proxy { get; private set; } = null!;

        public ManualTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

        public LogCapture Logs { get; } = new();

        public static string EventAt(DateTimeOffset time) => $"$ts-{time.ToUnixTimeMilliseconds()}:ex.org";

        public static string RefusalBody(string errcode) => $$"""{"errcode":"{{errcode}}","error":"refused by the stand-in","soft_logout":false}""";

        public async ValueTask InitializeAsync()
        {
            Upstream = await RecordingUpstream.StartAsync();
            Upstream.Respond = RespondAsync;
            var clock = Clock;
            // Invite permissions need an admin API and whoami; InvitePermissionTests has a stand-in with both.
            Proxy = await ProxyHost.StartAsync(Upstream.BaseUri.ToString().TrimEnd('/'), b =>
            {
                b.Services.AddSingleton<TimeProvider>(clock);
                b.Logging.AddProvider(Logs);
                b.Logging.SetMinimumLevel(LogLevel.Debug);
            }, "Tim:InviteCheck=Client");
        }

        public static Task<ProxyHost> StartWithClockAsync(RecordingUpstream upstream, out ManualTimeProvider clock)
        {
            var own = clock = new ManualTimeProvider(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
            return ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), b => b.Services.AddSingleton<TimeProvider>(own));
        }

        public async Task<string> MetricsAsync() => (await RawHttp.SendAsync(Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        public async Task<(string TestId, RawResponse Response)> SendAsync(string method, string target, string headers = "", string body = "")
        {
            var id = Guid.NewGuid().ToString("N");
            var response = await RawHttp.SendAsync(Proxy.InboundPort, RawHttp.Request(method, target, $"{RecordingUpstream.TestIdHeader}: {id}\r\n{headers}", body), headRequest: method == "HEAD");
            return (id, response);
        }

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Upstream.DisposeAsync();
        }

        internal static async Task RespondAsync(HttpContext context, RecordedRequest request)
        {
            var segments = request.RawTarget.Split('?')[0].Split('/');
            if (request.Method == "GET" && segments is ["", "_matrix", "client", "v3", "rooms", _, "event", var rawEventId])
            {
                var eventId = Uri.UnescapeDataString(rawEventId);
                switch (eventId.Split(':')[0])
                {
                    case var ts when ts.StartsWith("$ts-", StringComparison.Ordinal):
                        context.Response.ContentType = "application/json";
                        await context.Response.WriteAsync($$$"""{"type":"m.room.message","event_id":"{{{eventId}}}","origin_server_ts":{{{ts[4..]}}},"content":{}}""");
                        return;
                    case "$forbidden":
                        await RefuseAsync(context, 403, "M_FORBIDDEN");
                        return;
                    case "$missing":
                        await RefuseAsync(context, 404, "M_NOT_FOUND");
                        return;
                    case "$unknowntoken":
                        await RefuseAsync(context, 401, "M_UNKNOWN_TOKEN");
                        return;
                    case "$abort":
                        context.Abort();
                        return;
                    case "$nots":
                        context.Response.ContentType = "application/json";
                        await context.Response.WriteAsync("""{"type":"m.room.message"}""");
                        return;
                    case "$html":
                        context.Response.StatusCode = 500;
                        context.Response.ContentType = "text/html";
                        await context.Response.WriteAsync("<html>Internal Server Error</html>");
                        return;
                }
            }

            await RecordingUpstream.DefaultRespondAsync(context, request);
        }

        private static Task RefuseAsync(HttpContext context, int status, string errcode)
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync(RefusalBody(errcode));
        }
    }
}
