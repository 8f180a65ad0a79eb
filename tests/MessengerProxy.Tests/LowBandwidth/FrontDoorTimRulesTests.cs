using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidth;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.Tests.Inbound;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>
/// The TIM rulebook through the CoAP front door: the same pipeline runs in process, so each rule answers a phone as
/// it answers an HTTP client, with the CoAP code of its status; refusals never reach the homeserver.
/// </summary>
public sealed class FrontDoorTimRulesTests(FrontDoorTimRulesTests.Fixture fixture) : IClassFixture<FrontDoorTimRulesTests.Fixture>
{
    private const byte Get = 1;
    private const byte Post = 2;
    private const byte Put = 3;
    private static readonly CborJsonConverter s_cbor = new(CborKeyTable.V1);

    public static TheoryData<byte, string, string, string, string> Refused => new()
    {
        // endpoint overrides
        { Get, "/_matrix/client/v3/publicRooms", "", "4.01", "M_MISSING_TOKEN" },
        { Get, "/_matrix/client/v1/rooms/!r:ex.org/threads", "", "4.04", "M_UNRECOGNIZED" },
        { Get, "/_matrix/client/v1/media/preview_url?url=x", "", "4.04", "M_UNRECOGNIZED" },
        { Post, "/_matrix/client/v1/login/get_token", "{}", "4.04", "M_NOT_FOUND" },
        // room and content rules
        { Post, "/_matrix/client/v3/createRoom", """{"room_version":"11"}""", "4.00", "M_UNSUPPORTED_ROOM_VERSION" },
        { Post, "/_matrix/client/v3/rooms/!r:ex.org/upgrade", """{"new_version":"8"}""", "4.00", "M_UNSUPPORTED_ROOM_VERSION" },
        { Post, "/_matrix/client/v3/createRoom", """{"invite":["@a:ex.org","@b:ex.org"]}""", "4.03", "M_FORBIDDEN" },
        { Post, "/_matrix/client/v3/createRoom", """{"creation_content":{"type":"de.gematik.tim.roomtype.default.v2"}}""", "4.00", "M_BAD_JSON" },
        { Put, "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.join_rules/", """{"join_rule":"public"}""", "4.00", "M_INVALID_ROOM_STATE" },
        { Put, "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/c1", """{"m.relates_to":{"rel_type":"m.thread","event_id":"$e"}}""", "4.00", "M_FORBIDDEN" },
        { Put, "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/c2", """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍👎"}}""", "4.00", "M_BAD_JSON" },
        { Put, "/_matrix/client/v3/presence/@me:ex.org/status", "{\"presence\":\"online\",\"status_msg\":\"" + new string('x', 251) + "\"}", "4.03", "M_TOO_LARGE" },
        { Post, "/_matrix/client/v3/register?kind=guest", "{}", "4.03", "M_FORBIDDEN" },
        { Put, "/_matrix/client/v3/rooms/!r:ex.org/redact/$ts-0:ex.org/c3", "{}", "4.03", "M_FORBIDDEN" },
        { Put, "/_matrix/client/v3/rooms/!r:ex.org/redact/$missing:ex.org/c4", "{}", "4.04", "M_NOT_FOUND" },
        // bad input
        { Put, "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/c5", """{"m.relates_to":{},"m.relates_to":{"rel_type":"m.thread"}}""", "4.00", "M_BAD_JSON" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task RuleBreakingRequest_RefusedWithTheMappedCode_NeverForwarded(byte code, string path, string json, string coapCode, string errcode)
    {
        // A fresh association each time, so the token (sticky per association) marks this request's traffic.
        var token = errcode == "M_MISSING_TOKEN" ? null : "tok-" + Guid.NewGuid().ToString("N");
        using var client = fixture.Client();

        var answer = await client.RequestAsync(Request(client, code, path, json, token));

        Assert.Equal(coapCode, CoapMessage.FormatCode(answer.Code));
        Assert.Equal(errcode, Json(answer.Payload).GetProperty("errcode").GetString());
        // Only the redaction rule's own look-up of the event may have reached the homeserver.
        Assert.DoesNotContain(fixture.Upstream.Requests, r => token is null
            ? r.Header("Authorization") is null
            : r.Header("Authorization") == "Bearer " + token && !r.RawTarget.Contains("/event/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PublicCreateRoom_ArrivesRewritten_OtherFieldsKept()
    {
        var token = "tok-" + Guid.NewGuid().ToString("N");
        using var client = fixture.Client();

        var answer = await client.RequestAsync(Request(client, Post, "/_matrix/client/v3/createRoom",
            """{"preset":"public_chat","name":"Ärzte 🩺","org.example.x":[1,{"y":null}],"creation_content":{"org.example.k":"v"}}""", token));

        Assert.Equal("2.05", CoapMessage.FormatCode(answer.Code));
        var received = fixture.Upstream.Requests.Single(r => r.Header("Authorization") == "Bearer " + token);
        TimRulesTests.AssertJsonEqual("""{"room_version":"10","preset":"public_chat","name":"Ärzte 🩺","org.example.x":[1,{"y":null}],"creation_content":{"m.federate":false,"org.example.k":"v"}}""", received.Body);
    }

    [Fact]
    public async Task RecentRedaction_AndAnAllowedReaction_AreForwarded()
    {
        var token = "tok-" + Guid.NewGuid().ToString("N");
        using var client = fixture.Client();
        var eventId = TimRulesTests.Fixture.EventAt(fixture.Clock.GetUtcNow() - TimeSpan.FromHours(1));

        var redaction = await client.RequestAsync(Request(client, Put, $"/_matrix/client/v3/rooms/!r:ex.org/redact/{eventId}/c6", "{}", token));
        var reaction = await client.RequestAsync(Request(client, Put, "/_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/c7",
            """{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"🫶🏽"}}""", token));

        Assert.Equal("2.05", CoapMessage.FormatCode(redaction.Code));
        Assert.Equal("2.05", CoapMessage.FormatCode(reaction.Code));
        var received = fixture.Upstream.Requests.Where(r => r.Header("Authorization") == "Bearer " + token)
            .Select(r => $"{r.Method} {Uri.UnescapeDataString(r.RawTarget)}").ToList();
        Assert.Equal(
        [
            $"GET /_matrix/client/v3/rooms/!r:ex.org/event/{eventId}",
            $"PUT /_matrix/client/v3/rooms/!r:ex.org/redact/{eventId}/c6",
            "PUT /_matrix/client/v3/rooms/!r:ex.org/send/m.reaction/c7",
        ], received);
    }

    private static CoapMessage Request(CoapTestClient client, byte code, string path, string json, string? token)
    {
        var options = new List<CoapOption>();
        if (token is not null)
        {
            options.Add(CoapOption.FromString(CoapOptionNumbers.AccessToken, token));
        }

        if (json.Length > 0)
        {
            options.Add(CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Json));
        }

        var request = client.Request(code, path, CoapType.Confirmable, [.. options]);
        request.Payload = Encoding.UTF8.GetBytes(json);
        return request;
    }

    private static JsonElement Json(ReadOnlyMemory<byte> cbor) => JsonDocument.Parse(s_cbor.CborToJson(cbor.ToArray(), out _)).RootElement;

    public sealed class Fixture : IAsyncLifetime
    {
        private string _directory = null!;

        public RecordingUpstream Upstream { get; private set; } = null!;

        public ProxyHost Proxy { get; private set; } = null!;

        public ManualTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

        public int Port { get; private set; }

        internal CoapTestClient Client() => new(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, Port));

        public async ValueTask InitializeAsync()
        {
            _directory = Path.Combine(Path.GetTempPath(), "mp-frontdoor-tim-" + Guid.NewGuid().ToString("N"));
            var script = System.Diagnostics.Process.Start("sh", [RepoPaths.Combine("certificates", "create-dtls-cert.sh"), _directory, "localhost"])!;
            await script.WaitForExitAsync();
            Assert.Equal(0, script.ExitCode);

            Upstream = await RecordingUpstream.StartAsync();
            Upstream.Respond = TimRulesTests.Fixture.RespondAsync;
            var clock = Clock;
            Proxy = await ProxyHost.StartAsync(Upstream.BaseUri.ToString().TrimEnd('/'), b => b.Services.AddSingleton<TimeProvider>(clock),
                "LowBandwidth:Enabled=true", "LowBandwidth:PlainPort=0", "LowBandwidth:Port=0", "LowBandwidth:BindAddress=127.0.0.1",
                $"LowBandwidth:CertificatePath={Path.Combine(_directory, "dtls.crt")}", $"LowBandwidth:KeyPath={Path.Combine(_directory, "dtls.key")}");
            Port = Proxy.Services.GetRequiredService<LowBandwidthServer>().PlainEndPoint!.Port;
        }

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Upstream.DisposeAsync();
            TestDirectories.Delete(_directory);
        }
    }
}
