using System.Formats.Cbor;
using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidth;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>
/// The front door over plain CoAP (the DTLS layer is tested separately): the real proxy with a recording
/// stand-in homeserver, driven by libcoap's client and by a bare UDP peer for the message layer.
/// </summary>
public sealed class FrontDoorPlainTests(FrontDoorPlainTests.Fixture fixture) : IClassFixture<FrontDoorPlainTests.Fixture>
{
    private static readonly CborJsonConverter s_cbor = new(CborKeyTable.V1);

    [Fact]
    public async Task LibCoap_GetVersionsByEnum_TranslatedAndFilteredByTheInboundPipeline()
    {
        var (exit, output, stderr) = await LibCoap.RunAsync("coap-client-notls", "-m", "get", $"coap://127.0.0.1:{fixture.Port}/0");

        Assert.True(exit == 0, stderr);
        var json = Json(output);
        Assert.Equal(["v1.11"], json.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        var received = fixture.Upstream.Requests.Last(r => r.RawTarget == "/_matrix/client/versions");
        Assert.Equal("GET", received.Method);
        Assert.Equal("127.0.0.1", received.Header("X-Forwarded-For"));
    }

    [Fact]
    public async Task LibCoap_PutJsonWithTokenOption_ReachesHomeserverAsV3Path()
    {
        var (exit, output, stderr) = await LibCoap.RunAsync("coap-client-notls", "-m", "put", "-O", "256,secret-token", "-t", "50",
            "-e", """{"msgtype":"m.text","body":"Hello World"}""", $"coap://127.0.0.1:{fixture.Port}/9/!libcoap:x/m.room.message/t1");

        Assert.True(exit == 0, stderr);
        var received = fixture.Upstream.Requests.Single(r => r.RawTarget == "/_matrix/client/v3/rooms/!libcoap:x/send/m.room.message/t1");
        Assert.Equal("PUT", received.Method);
        Assert.Equal("Bearer secret-token", received.Header("Authorization"));
        Assert.Equal("application/json", received.Header("Content-Type"));
        Assert.Equal("""{"msgtype":"m.text","body":"Hello World"}""", Encoding.UTF8.GetString(received.Body));
        Assert.Equal("ok", Json(output).GetProperty("status").GetString());
    }

    [Fact]
    public async Task LibCoap_BlockwiseGetOfALargeSync_WholeBody_HomeserverAskedOnce()
    {
        var token = "sync-" + Guid.NewGuid().ToString("N");
        var (exit, output, stderr) = await LibCoap.RunAsync("coap-client-notls", "-m", "get", "-O", $"256,{token}", "-B", "30",
            $"coap://127.0.0.1:{fixture.Port}/7?since=s0&timeout=0");

        Assert.True(exit == 0, stderr);
        Assert.True(output.Length > 20_000, $"only {output.Length} bytes");
        var json = Json(output);
        Assert.Equal(400, json.GetProperty("rooms").GetProperty("join").GetProperty("!r:x").GetProperty("timeline").GetProperty("events").GetArrayLength());
        Assert.Single(fixture.Upstream.Requests, r => r.Header("Authorization") == "Bearer " + token);
    }

    [Fact]
    public async Task CborBody_MscVector_ArrivesAsTheMscJson_BearerPrefixNotDoubled()
    {
        using var client = fixture.Client();
        const string hex = "a5026e6d2e726f6f6d2e6d65737361676503a2181b6b48656c6c6f20576f726c64181c666d2e74657874056e21666f6f3a6c6f63616c686f7374067040616c6963653a6c6f63616c686f737409a26a626f6f6c5f76616c7565f56a6e756c6c5f76616c7565f6";
        var request = client.Request(3, "/9/!cbor:x/m.room.message/t2", CoapType.Confirmable,
            CoapOption.FromString(CoapOptionNumbers.AccessToken, "Bearer tok2"), CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Cbor));
        request.Payload = Convert.FromHexString(hex);

        var response = await client.RequestAsync(request);

        Assert.Equal("2.05", CoapMessage.FormatCode(response.Code));
        Assert.Equal(60u, response.Find(CoapOptionNumbers.ContentFormat)!.Value.UIntValue);
        var received = fixture.Upstream.Requests.Single(r => r.RawTarget == "/_matrix/client/v3/rooms/!cbor:x/send/m.room.message/t2");
        Assert.Equal("Bearer tok2", received.Header("Authorization"));
        using var sent = JsonDocument.Parse(received.Body);
        using var expected = JsonDocument.Parse("""{"type":"m.room.message","content":{"msgtype":"m.text","body":"Hello World"},"sender":"@alice:localhost","room_id":"!foo:localhost","unsigned":{"bool_value":true,"null_value":null}}""");
        Assert.True(JsonElement.DeepEquals(expected.RootElement, sent.RootElement));
    }

    [Fact]
    public async Task AccessToken_IsStickyForTheAssociation_AndReplacedWhenSentAgain()
    {
        using var client = fixture.Client();
        await client.RequestAsync(client.Request(1, "/W/@first:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "first")));
        await client.RequestAsync(client.Request(1, "/W/@second:x"));
        await client.RequestAsync(client.Request(1, "/W/@third:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "newer")));
        await client.RequestAsync(client.Request(1, "/W/@fourth:x"));

        Assert.Equal("Bearer first", fixture.Upstream.Requests.Single(r => r.RawTarget == "/_matrix/client/v3/profile/@first:x").Header("Authorization"));
        Assert.Equal("Bearer first", fixture.Upstream.Requests.Single(r => r.RawTarget == "/_matrix/client/v3/profile/@second:x").Header("Authorization"));
        Assert.Equal("Bearer newer", fixture.Upstream.Requests.Single(r => r.RawTarget == "/_matrix/client/v3/profile/@fourth:x").Header("Authorization"));
    }

    [Fact]
    public async Task CborVersionOption_SelectsIntegerKeysInAnswers()
    {
        using var plain = fixture.Client();
        using var keyed = fixture.Client();

        var text = await plain.RequestAsync(plain.Request(1, "/0"));
        var integer = await keyed.RequestAsync(keyed.Request(1, "/0", CoapType.Confirmable, CoapOption.FromUInt(CoapOptionNumbers.CborVersion, 1)));

        Assert.Equal("versions", FirstKey(text.Payload));
        Assert.Equal("99", FirstKey(integer.Payload)); // unstable_features = 99 sorts before versions = 100
        Assert.True(integer.Payload.Length < text.Payload.Length);
    }

    [Fact]
    public async Task QueryOptions_KeptInOrder_AndReEncoded()
    {
        using var client = fixture.Client();
        var request = client.Request(1, "/E/!q:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "t"),
            CoapOption.FromString(CoapOptionNumbers.UriQuery, "to=b&c"), CoapOption.FromString(CoapOptionNumbers.UriQuery, "from=s 1"), CoapOption.FromString(CoapOptionNumbers.UriQuery, "dir=b"));

        await client.RequestAsync(request);

        Assert.Contains(fixture.Upstream.Requests, r => r.RawTarget == "/_matrix/client/v3/rooms/!q:x/messages?to=b%26c&from=s%201&dir=b");
    }

    [Fact]
    public async Task Ping_AnsweredWithReset()
    {
        using var client = fixture.Client();
        var mid = client.NextMessageId();
        await client.SendAsync(new CoapMessage { Type = CoapType.Confirmable, Code = 0, MessageId = mid });

        var answer = await client.ReceiveAsync();

        Assert.NotNull(answer);
        Assert.Equal(CoapType.Reset, answer.Type);
        Assert.Equal(mid, answer.MessageId);
    }

    [Fact]
    public async Task MalformedConfirmable_Reset_AndListenerKeepsServing()
    {
        using var client = fixture.Client();
        await client.SendRawAsync([0x49, 0x01, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        var answer = await client.ReceiveAsync();
        Assert.NotNull(answer);
        Assert.Equal(CoapType.Reset, answer.Type);
        Assert.Equal(0x1234, answer.MessageId);

        var later = await client.RequestAsync(client.Request(1, "/0"));
        Assert.Equal("2.05", CoapMessage.FormatCode(later.Code));
    }

    [Fact]
    public async Task DuplicateMessageId_SameAnswer_HomeserverAskedOnce()
    {
        using var client = fixture.Client();
        var request = client.Request(1, "/W/@dup:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "t"));

        var first = await client.RequestAsync(request);
        await client.SendAsync(request);
        var second = await client.ReceiveAsync();

        Assert.NotNull(second);
        Assert.Equal(first.Serialize(), second.Serialize());
        Assert.Single(fixture.Upstream.Requests, r => r.RawTarget == "/_matrix/client/v3/profile/@dup:x");
    }

    [Fact]
    public async Task NonConfirmableRequest_NonConfirmableAnswer()
    {
        using var client = fixture.Client();
        var request = client.Request(1, "/0", CoapType.NonConfirmable);

        var answer = await client.RequestAsync(request);

        Assert.Equal(CoapType.NonConfirmable, answer.Type);
        Assert.Equal(request.Token.ToArray(), answer.Token.ToArray());
    }

    [Fact]
    public async Task SlowHomeserver_EmptyAckThenSeparateConfirmableResponse_RetransmittedUntilAcknowledged()
    {
        using var client = fixture.Client();
        var request = client.Request(1, "/E/!slow:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "t"));
        await client.SendAsync(request);

        var ack = await client.ReceiveAsync();
        Assert.NotNull(ack);
        Assert.Equal(CoapType.Acknowledgement, ack.Type);
        Assert.True(ack.IsEmpty);
        Assert.Equal(request.MessageId, ack.MessageId);

        var separate = await client.ReceiveAsync();
        Assert.NotNull(separate);
        Assert.Equal(CoapType.Confirmable, separate.Type);
        Assert.NotEqual(request.MessageId, separate.MessageId);
        Assert.Equal(request.Token.ToArray(), separate.Token.ToArray());
        Assert.Equal("2.05", CoapMessage.FormatCode(separate.Code));

        // Not acknowledged: the same message comes again.
        var again = await client.ReceiveAsync();
        Assert.NotNull(again);
        Assert.Equal(separate.Serialize(), again.Serialize());
        await client.SendAsync(new CoapMessage { Type = CoapType.Acknowledgement, Code = 0, MessageId = separate.MessageId });
    }

    [Fact]
    public async Task Block1Upload_AssembledBeforeTheHomeserverSeesIt()
    {
        using var client = fixture.Client();
        var body = Encoding.UTF8.GetBytes("{\"body\":\"" + new string('b', 2900) + "\",\"msgtype\":\"m.text\"}");
        var token = BitConverter.GetBytes(Random.Shared.NextInt64());
        CoapMessage? last = null;
        for (var number = 0u; number * 1024 < body.Length; number++)
        {
            var more = (number + 1) * 1024 < body.Length;
            var request = client.Request(3, "/9/!upload:x/m.room.message/t3", CoapType.Confirmable,
                CoapOption.FromString(CoapOptionNumbers.AccessToken, "t"), CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Json),
                new CoapBlock(number, more, 6).ToOption(CoapOptionNumbers.Block1));
            request.Token = token;
            request.Payload = body.AsMemory((int)(number * 1024), (int)Math.Min(1024, body.Length - (number * 1024)));
            last = await client.RequestAsync(request);
            Assert.Equal(more ? "2.31" : "2.05", CoapMessage.FormatCode(last.Code));
        }

        var received = fixture.Upstream.Requests.Single(r => r.RawTarget == "/_matrix/client/v3/rooms/!upload:x/send/m.room.message/t3");
        Assert.Equal(body, received.Body);
    }

    [Theory]
    [InlineData("/9/!r:x/m.room.message", 1, "4.04", "needs more path segments")]
    [InlineData("/7/extra", 1, "4.04", "too many path segments")]
    [InlineData("/_synapse/admin/v1/users", 1, "4.04", "M_UNRECOGNIZED")]
    [InlineData("/_matrix/client/r0/sync", 1, "4.04", "M_UNRECOGNIZED")]
    [InlineData("/0", 5, "4.05", "Method code 0.05")]
    public async Task Refusals_ComeBackAsCoapErrorsWithMatrixBodies(string path, byte code, string coapCode, string text)
    {
        using var client = fixture.Client();

        var answer = await client.RequestAsync(client.Request(code, path));

        Assert.Equal(coapCode, CoapMessage.FormatCode(answer.Code));
        Assert.Contains(text, Encoding.UTF8.GetString(s_cbor.CborToJson(answer.Payload, out _)));
    }

    [Theory]
    [InlineData(CoapOptionNumbers.AccessToken, "74c3b66b656e")] // "tök" + "en"
    [InlineData(CoapOptionNumbers.AccessToken, "746f6b0d0a582d45766964656e63653a2031")] // CR LF: a header of its own
    [InlineData(CoapOptionNumbers.AccessToken, "746f6b00")] // NUL
    [InlineData(CoapOptionNumbers.AccessToken, "426561726572207420")] // "Bearer t ": a space
    [InlineData(CoapOptionNumbers.AccessToken, "ff")] // not UTF-8 at all
    [InlineData(CoapOptionNumbers.UriPath, "40ff3a78")] // "@\xff:x": would silently become U+FFFD
    [InlineData(CoapOptionNumbers.UriQuery, "66726f6d3dc328")] // "from=\xc3("
    public async Task UnusableOptionValue_400Unknown_RefusedBeforeForwarding_CountedAsRejected(ushort number, string hex)
    {
        using var client = fixture.Client();
        var token = "kept-" + Guid.NewGuid().ToString("N");
        await client.RequestAsync(client.Request(1, "/W/@before:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, token)));
        var forwarded = fixture.Upstream.Requests.Count;
        var before = await fixture.MetricsAsync();

        var marker = "@bad" + Guid.NewGuid().ToString("N")[..8] + ":x";
        var path = number == CoapOptionNumbers.UriPath ? "/W" : "/W/" + marker;
        var answer = await client.RequestAsync(client.Request(1, path, CoapType.Confirmable, new CoapOption(number, Convert.FromHexString(hex))));

        Assert.Equal("4.00", CoapMessage.FormatCode(answer.Code));
        Assert.Equal("M_UNKNOWN", Json(answer.Payload).GetProperty("errcode").GetString());
        // (Observations of earlier tests may still be polling /sync meanwhile.)
        Assert.DoesNotContain(fixture.Upstream.Requests.Skip(forwarded), r => !r.RawTarget.StartsWith("/_matrix/client/v3/sync", StringComparison.Ordinal));
        var after = await fixture.MetricsAsync();
        Assert.Equal(Sum(before, "messengerproxy_inbound_upstream_errors_total"), Sum(after, "messengerproxy_inbound_upstream_errors_total"));
        const string UpstreamError = "messengerproxy_inbound_requests_total{family=\"client\",outcome=\"upstream_error\"";
        Assert.Equal(Sum(before, UpstreamError), Sum(after, UpstreamError));
        const string Rejected = "messengerproxy_lowbandwidth_requests_rejected_total{code=\"4.00\",errcode=\"M_UNKNOWN\"}";
        Assert.Equal(Sum(before, Rejected) + 1, Sum(after, Rejected));

        // The refused token did not replace the association's token.
        await client.RequestAsync(client.Request(1, "/W/@after:x"));
        Assert.Equal("Bearer " + token, fixture.Upstream.Requests.Last(r => r.RawTarget == "/_matrix/client/v3/profile/@after:x").Header("Authorization"));
    }

    [Fact]
    public async Task MissingToken_OnAnAuthenticatedEndpoint_401FromTheSamePolicy()
    {
        using var client = fixture.Client();

        var answer = await client.RequestAsync(client.Request(1, "/I"));

        Assert.Equal("4.01", CoapMessage.FormatCode(answer.Code));
        Assert.Contains("M_MISSING_TOKEN", Encoding.UTF8.GetString(s_cbor.CborToJson(answer.Payload, out _)));
    }

    [Fact]
    public async Task UnknownCriticalOption_402()
    {
        using var client = fixture.Client();

        var answer = await client.RequestAsync(client.Request(1, "/0", CoapType.Confirmable, new CoapOption(9, new byte[] { 1 })));

        Assert.Equal("4.02", CoapMessage.FormatCode(answer.Code));
    }

    [Theory]
    [InlineData(429, "4.29")]
    [InlineData(201, "2.01")]
    [InlineData(409, "4.09")]
    [InlineData(503, "5.03")]
    public async Task HomeserverStatus_MappedToCoapCode(int status, string coapCode)
    {
        using var client = fixture.Client();

        var answer = await client.RequestAsync(client.Request(1, $"/W/@status:x?status={status}", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "t")));

        Assert.Equal(coapCode, CoapMessage.FormatCode(answer.Code));
        Assert.Contains($"status {status}", Encoding.UTF8.GetString(s_cbor.CborToJson(answer.Payload, out _)));
    }

    [Theory]
    [InlineData("a1616b")]
    [InlineData("a1616162c328")] // invalid UTF-8: must not arrive as U+FFFD
    [InlineData("a16161f7")] // undefined
    [InlineData("a161611b0020000000000000")] // 2^53
    [InlineData("9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f")]
    public async Task MalformedCborBody_400NotJson_NothingForwarded(string hex)
    {
        using var client = fixture.Client();
        var request = client.Request(3, "/9/!bad:x/m.room.message/t9", CoapType.Confirmable,
            CoapOption.FromString(CoapOptionNumbers.AccessToken, "t"), CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Cbor));
        request.Payload = Convert.FromHexString(hex);

        var answer = await client.RequestAsync(request);

        Assert.Equal("4.00", CoapMessage.FormatCode(answer.Code));
        Assert.Contains("M_NOT_JSON", Encoding.UTF8.GetString(s_cbor.CborToJson(answer.Payload, out _)));
        Assert.DoesNotContain(fixture.Upstream.Requests, r => r.RawTarget.Contains("!bad:x", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ObserveSync_FirstSyncThenConfirmableNotifications_UntilReset()
    {
        using var client = fixture.Client();
        var register = client.Request(1, "/7?filter=f1", CoapType.Confirmable,
            CoapOption.FromString(CoapOptionNumbers.AccessToken, "observer"), CoapOption.FromUInt(CoapOptionNumbers.Observe, 0));

        var first = await client.RequestAsync(register);
        Assert.Equal("2.05", CoapMessage.FormatCode(first.Code));
        Assert.Equal(1u, first.Find(CoapOptionNumbers.Observe)!.Value.UIntValue);
        Assert.Equal("o1", Json(first.Payload).GetProperty("next_batch").GetString());

        var second = await client.ReceiveAsync();
        Assert.NotNull(second);
        Assert.Equal(CoapType.Confirmable, second.Type);
        Assert.Equal(register.Token.ToArray(), second.Token.ToArray());
        Assert.Equal(2u, second.Find(CoapOptionNumbers.Observe)!.Value.UIntValue);
        Assert.Equal("o2", Json(second.Payload).GetProperty("next_batch").GetString());
        await client.SendAsync(new CoapMessage { Type = CoapType.Acknowledgement, Code = 0, MessageId = second.MessageId });

        var third = await client.ReceiveAsync();
        Assert.NotNull(third);
        Assert.Equal(3u, third.Find(CoapOptionNumbers.Observe)!.Value.UIntValue);
        Assert.Equal("o3", Json(third.Payload).GetProperty("next_batch").GetString());

        // The client is not interested any more: a Reset ends the observation, and no further polls go out.
        await client.SendAsync(new CoapMessage { Type = CoapType.Reset, Code = 0, MessageId = third.MessageId });
        var polls = fixture.Upstream.Requests.Where(r => r.Header("Authorization") == "Bearer observer").Select(r => r.RawTarget).ToList();
        Assert.Equal(["/_matrix/client/v3/sync?filter=f1", "/_matrix/client/v3/sync?filter=f1&since=o1&timeout=30000", "/_matrix/client/v3/sync?filter=f1&since=o2&timeout=30000"], polls);
        Assert.Null(await client.ReceiveAsync(TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task BaseUrl_OfLoginAndWellKnown_RewrittenToTheFrontDoor_OnlyOverCoap()
    {
        using var client = fixture.Client();
        var login = client.Request(2, "/1", CoapType.Confirmable, CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Json));
        login.Payload = """{"type":"m.login.password","identifier":{"type":"m.id.user","user":"a"},"password":"p"}"""u8.ToArray();

        var loggedIn = Json((await client.RequestAsync(login)).Payload);
        var wellKnown = Json((await client.RequestAsync(client.Request(1, "/.well-known/matrix/client"))).Payload);
        using var http = fixture.Proxy.CreateClient();
        var overHttp = JsonDocument.Parse(await http.GetStringAsync("/.well-known/matrix/client", TestContext.Current.CancellationToken)).RootElement;

        Assert.Equal(Fixture.AdvertisedBaseUrl, loggedIn.GetProperty("well_known").GetProperty("m.homeserver").GetProperty("base_url").GetString());
        Assert.Equal("syt_new", loggedIn.GetProperty("access_token").GetString());
        Assert.Equal(Fixture.AdvertisedBaseUrl, wellKnown.GetProperty("m.homeserver").GetProperty("base_url").GetString());
        Assert.Equal(1, wellKnown.GetProperty("org.example").GetProperty("x").GetInt32());
        Assert.Equal("https://matrix.example.org", overHttp.GetProperty("m.homeserver").GetProperty("base_url").GetString());
    }

    [Fact]
    public async Task ObserveSync_LargeNotification_LaterBlocksFromTheLastPushedBody()
    {
        using var client = fixture.Client();
        var register = client.Request(1, "/7?filter=big", CoapType.Confirmable,
            CoapOption.FromString(CoapOptionNumbers.AccessToken, "observer-big"), CoapOption.FromUInt(CoapOptionNumbers.Observe, 0));
        await client.RequestAsync(register);

        var notification = await client.ReceiveAsync();
        Assert.NotNull(notification);
        Assert.Equal(2u, notification.Find(CoapOptionNumbers.Observe)!.Value.UIntValue);
        Assert.True(CoapBlock.TryDecode(notification.Find(CoapOptionNumbers.Block2)!.Value.UIntValue, out var first));
        Assert.True(first.More);
        var total = (int)notification.Find(CoapOptionNumbers.Size2)!.Value.UIntValue;
        await client.SendAsync(new CoapMessage { Type = CoapType.Acknowledgement, Code = 0, MessageId = notification.MessageId });

        // RFC 7959 §3.4: the rest with plain GETs of the same resource (no Observe option).
        using var body = new MemoryStream();
        body.Write(notification.Payload.Span);
        var before = fixture.Upstream.Requests.Count(r => r.Header("Authorization") == "Bearer observer-big");
        for (var number = 1u; body.Length < total; number++)
        {
            var next = await client.RequestAsync(client.Request(1, "/7?filter=big", CoapType.Confirmable, new CoapBlock(number, false, first.SizeExponent).ToOption(CoapOptionNumbers.Block2)));
            body.Write(next.Payload.Span);
        }

        Assert.Equal("o2", Json(body.ToArray()).GetProperty("next_batch").GetString());
        Assert.Equal(5000, Json(body.ToArray()).GetProperty("padding").GetString()!.Length);
        var after = fixture.Upstream.Requests.Where(r => r.Header("Authorization") == "Bearer observer-big").Select(r => r.RawTarget).ToList();
        Assert.DoesNotContain(after.Skip(before), t => !t.Contains("since=o2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ObserveSync_NotificationNeverAcknowledged_RegistrationDropped()
    {
        using var client = fixture.Client();
        var register = client.Request(1, "/7?filter=silent", CoapType.Confirmable,
            CoapOption.FromString(CoapOptionNumbers.AccessToken, "observer-silent"), CoapOption.FromUInt(CoapOptionNumbers.Observe, 0));
        await client.RequestAsync(register);

        // The o2 notification comes 1 + MaxRetransmit (2) times, never acknowledged; then nothing more.
        var copies = 0;
        while (await client.ReceiveAsync(TimeSpan.FromSeconds(8)) is { } message)
        {
            Assert.Equal("o2", Json(message.Payload).GetProperty("next_batch").GetString());
            copies++;
        }

        Assert.Equal(3, copies);
        Assert.DoesNotContain(fixture.Upstream.Requests, r => r.Header("Authorization") == "Bearer observer-silent" && r.RawTarget.Contains("since=o2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RequestFlood_OnOneAssociation_BeyondTheLimitGets503_OthersAnswered()
    {
        using var client = fixture.Client();
        var requests = Enumerable.Range(0, 12)
            .Select(i => client.Request(1, $"/E/!slow:x?flood={i}", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "flood")))
            .ToList();
        foreach (var request in requests)
        {
            await client.SendAsync(request);
        }

        var overloaded = 0;
        var answered = 0;
        while (overloaded + answered < requests.Count && await client.ReceiveAsync() is { } message)
        {
            if (message.IsEmpty)
            {
                continue;
            }

            if (message.Type == CoapType.Confirmable)
            {
                await client.SendAsync(new CoapMessage { Type = CoapType.Acknowledgement, Code = 0, MessageId = message.MessageId });
            }

            if (CoapMessage.FormatCode(message.Code) == "5.03")
            {
                overloaded++;
                Assert.Contains("M_LIMIT_EXCEEDED", Encoding.UTF8.GetString(s_cbor.CborToJson(message.Payload, out _)));
            }
            else
            {
                Assert.Equal("2.05", CoapMessage.FormatCode(message.Code));
                answered++;
            }
        }

        Assert.Equal(8, answered);
        Assert.Equal(4, overloaded);
    }

    /// <summary>The sum of the Prometheus samples whose name and labels start with <paramref name="prefix"/>.</summary>
    private static double Sum(string metrics, string prefix) => metrics.Split('\n')
        .Where(line => line.StartsWith(prefix, StringComparison.Ordinal))
        .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    private static JsonElement Json(ReadOnlyMemory<byte> cbor) => JsonDocument.Parse(s_cbor.CborToJson(cbor, out _)).RootElement;

    private static string FirstKey(ReadOnlyMemory<byte> cbor)
    {
        var reader = new CborReader(cbor);
        reader.ReadStartMap();
        return reader.PeekState() == CborReaderState.TextString ? reader.ReadTextString() : reader.ReadUInt64().ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public sealed class Fixture : IAsyncLifetime
    {
        public RecordingUpstream Upstream { get; private set; } = null!;

        public ProxyHost Proxy { get; private set; } = null!;

        public const string AdvertisedBaseUrl = "https://lb.example.org:8008";

        public int Port { get; private set; }

        /// <summary>The DTLS port, with a certificate made by certificates/create-dtls-cert.sh.</summary>
        public int DtlsPort { get; private set; }

        public string CertificatePath { get; private set; } = null!;

        private string _directory = null!;

        internal CoapTestClient Client() => new(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, Port));

        public async Task<string> MetricsAsync() => (await RawHttp.SendAsync(Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        public async ValueTask InitializeAsync()
        {
            _directory = Path.Combine(Path.GetTempPath(), "mp-frontdoor-" + Guid.NewGuid().ToString("N"));
            var script = System.Diagnostics.Process.Start("sh", [RepoPaths.Combine("certificates", "create-dtls-cert.sh"), _directory, "localhost"])!;
            await script.WaitForExitAsync();
            Assert.Equal(0, script.ExitCode);
            CertificatePath = Path.Combine(_directory, "dtls.crt");

            Upstream = await RecordingUpstream.StartAsync();
            Upstream.Respond = RespondAsync;
            Proxy = await ProxyHost.StartAsync(Upstream.BaseUri.ToString().TrimEnd('/'),
                "LowBandwidth:Enabled=true", "LowBandwidth:PlainPort=0", "LowBandwidth:AckDelay=00:00:01",
                "LowBandwidth:AckTimeout=00:00:00.3", "LowBandwidth:MaxRetransmit=2",
                "LowBandwidth:Port=0", "LowBandwidth:BindAddress=127.0.0.1", $"LowBandwidth:AdvertisedBaseUrl={AdvertisedBaseUrl}",
                $"LowBandwidth:CertificatePath={CertificatePath}", $"LowBandwidth:KeyPath={Path.Combine(_directory, "dtls.key")}");
            var server = Proxy.Services.GetRequiredService<LowBandwidthServer>();
            Port = server.PlainEndPoint!.Port;
            DtlsPort = server.DtlsEndPoint!.Port;
        }

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Upstream.DisposeAsync();
            TestDirectories.Delete(_directory);
        }

        private static async Task RespondAsync(HttpContext context, RecordedRequest request)
        {
            var path = request.RawTarget.Split('?')[0];
            var query = request.RawTarget.Contains('?') ? request.RawTarget.Split('?', 2)[1] : string.Empty;
            context.Response.ContentType = "application/json";
            if (query.StartsWith("status=", StringComparison.Ordinal))
            {
                var status = int.Parse(query[7..10], System.Globalization.CultureInfo.InvariantCulture);
                context.Response.StatusCode = status;
                await context.Response.WriteAsync($$"""{"errcode":"M_TEST","error":"status {{status}}"}""");
                return;
            }

            if (path == "/_matrix/client/v3/sync" && request.Header("Authorization")?.StartsWith("Bearer observer", StringComparison.Ordinal) == true)
            {
                var since = query.Split('&').FirstOrDefault(p => p.StartsWith("since=", StringComparison.Ordinal))?[6..];
                if (since is "o1" or "o2")
                {
                    await Task.Delay(TimeSpan.FromSeconds(0.2), context.RequestAborted);
                }
                else if (since is not null)
                {
                    await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
                }

                var next = since switch { null => "o1", "o1" => "o2", "o2" => "o3", _ => since };
                var padding = request.Header("Authorization")!.EndsWith("-big", StringComparison.Ordinal) ? new string('p', 5000) : string.Empty;
                await context.Response.WriteAsync("{\"next_batch\":\"" + next + "\",\"rooms\":{\"join\":{}},\"padding\":\"" + padding + "\"}");
                return;
            }

            if (path == "/_matrix/client/v3/sync")
            {
                var events = string.Join(",", Enumerable.Range(0, 400).Select(i => "{\"event_id\":\"$e" + i + "\",\"type\":\"m.room.message\",\"content\":{\"msgtype\":\"m.text\",\"body\":\"" + new string('x', 40) + "\"}}"));
                await context.Response.WriteAsync("{\"next_batch\":\"s1\",\"rooms\":{\"join\":{\"!r:x\":{\"timeline\":{\"events\":[" + events + "]}}}}}");
                return;
            }

            if (path.Contains("!slow:x", StringComparison.Ordinal))
            {
                await Task.Delay(TimeSpan.FromSeconds(2.5), context.RequestAborted);
            }

            if (path == "/.well-known/matrix/client")
            {
                await context.Response.WriteAsync("""{"m.homeserver":{"base_url":"https://matrix.example.org"},"org.example":{"x":1}}""");
                return;
            }

            if (path == "/_matrix/client/v3/login")
            {
                await context.Response.WriteAsync("""{"access_token":"syt_new","device_id":"D","user_id":"@a:example.org","well_known":{"m.homeserver":{"base_url":"https://matrix.example.org"}}}""");
                return;
            }

            if (path == "/_matrix/client/versions")
            {
                await context.Response.WriteAsync("""{"versions":["v1.11","v1.12"],"unstable_features":{"org.example.x":true}}""");
                return;
            }

            await context.Response.WriteAsync("""{"status":"ok"}""");
        }
    }
}
