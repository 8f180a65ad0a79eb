using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.Inbound;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.Federation;

/// <summary>
/// Inbound federation transactions from a listed origin: refused whole, before the homeserver sees a byte, when a
/// PDU or EDU names a server outside the federation; forwarded byte for byte otherwise.
/// </summary>
public sealed partial class FederationEnforcementTests
{
    private const string SendPath = "/_matrix/federation/v1/send/txn1";

    private readonly LogCapture _logs = new();

    private Task<ProxyHost> StartLoggedProxyAsync(params string[] extra) => StartProxyAsync(builder => builder.Logging.AddProvider(_logs), extra);

    private static async Task<(string Id, RawResponse Response)> SendTransactionAsync(ProxyHost proxy, string body, string target = SendPath)
    {
        var id = Guid.NewGuid().ToString("N");
        var headers = $"{RecordingUpstream.TestIdHeader}: {id}\r\nContent-Type: application/json\r\n"
            + $"Authorization: X-Matrix origin=\"listed.example\",destination=\"{Own}\",key=\"ed25519:k\",sig=\"c2ln\"\r\n";
        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("PUT", target, headers, body));
        return (id, response);
    }

    private static string Transaction(string pdus = "", string edus = "") =>
        $$"""{"origin":"listed.example","origin_server_ts":1532991320875,"pdus":[{{pdus}}],"edus":[{{edus}}]}""";

    private static string Message(string sender) =>
        $$"""{"room_id":"!r:listed.example","sender":"{{sender}}","type":"m.room.message","content":{"msgtype":"m.text","body":"hello"},"depth":7,"origin_server_ts":1}""";

    private void AssertRefused(RawResponse response, string id, int status, string errcode, string? message = null)
    {
        RejectionTests.AssertMatrixError(response, status, errcode);
        if (message is not null)
        {
            Assert.Contains(message, JsonDocument.Parse(response.Body).RootElement.GetProperty("error").GetString());
        }

        Assert.Empty(_homeserver.WithTestId(id));
        Assert.Empty(_homeserver.HeadsWithTestId(id));
    }

    [Fact]
    public async Task PduWithUnlistedSender_FromListedOrigin_403AndNothingForwarded()
    {
        await using var proxy = await StartLoggedProxyAsync();

        var (id, response) = await SendTransactionAsync(proxy, Transaction(Message("@alice:listed.example") + "," + Message("@mallory:evil.example")));

        AssertRefused(response, id, 403, "M_FORBIDDEN", "evil.example is not part of the federation (pdus[1].sender)");
    }

    [Fact]
    public async Task MemberEventInvitingAnUnlistedUser_403()
    {
        await using var proxy = await StartLoggedProxyAsync();

        var (id, response) = await SendTransactionAsync(proxy, Transaction(
            """{"room_id":"!r:listed.example","sender":"@alice:listed.example","type":"m.room.member","state_key":"@mallory:evil.example","content":{"membership":"invite"}}"""));

        AssertRefused(response, id, 403, "M_FORBIDDEN", "evil.example is not part of the federation (pdus[0].state_key)");
    }

    [Theory]
    [InlineData("""{"edu_type":"m.typing","content":{"room_id":"!r:listed.example","user_id":"@mallory:evil.example","typing":true}}""")]
    [InlineData("""{"edu_type":"m.receipt","content":{"!r:listed.example":{"m.read":{"@mallory:evil.example":{"event_ids":["$e"],"data":{"ts":1}}}}}}""")]
    [InlineData("""{"edu_type":"m.presence","content":{"push":[{"user_id":"@mallory:evil.example","presence":"online","last_active_ago":5}]}}""")]
    [InlineData("""{"edu_type":"m.device_list_update","content":{"user_id":"@mallory:evil.example","device_id":"D","stream_id":1}}""")]
    [InlineData("""{"edu_type":"m.signing_key_update","content":{"user_id":"@mallory:evil.example"}}""")]
    [InlineData("""{"edu_type":"m.direct_to_device","content":{"sender":"@mallory:evil.example","type":"m.room_key_request","message_id":"m","messages":{}}}""")]
    [InlineData("""{"edu_type":"m.direct_to_device","content":{"sender":"@alice:listed.example","type":"m.room_key_request","message_id":"m","messages":{"@mallory:evil.example":{"*":{}}}}}""")]
    public async Task EachEduTypeNamingAnUnlistedUser_403(string edu)
    {
        await using var proxy = await StartLoggedProxyAsync();

        var (id, response) = await SendTransactionAsync(proxy, Transaction(Message("@alice:listed.example"), edu));

        AssertRefused(response, id, 403, "M_FORBIDDEN", "evil.example is not part of the federation (edus[0].content");
    }

    [Fact]
    public async Task EscapedSender_IsDecodedAsTheHomeserverDecodesIt()
    {
        await using var proxy = await StartLoggedProxyAsync();

        var (id, response) = await SendTransactionAsync(proxy, Transaction("""{"s\u0065nder":"\u0040mallory:evil.exampl\u0065","type":"m.room.message"}"""));

        AssertRefused(response, id, 403, "M_FORBIDDEN", "evil.example is not part of the federation");
    }

    [Theory]
    [InlineData("""{"origin":"listed.example","pdus":[{"sender":"@alice:listed.example","sender":"@mallory:evil.example"}]}""", "pdus[0].sender: repeated")]
    [InlineData("""{"origin":"listed.example","pdus":[{"sender":"@mallory:evil%2Eexample"}]}""", "pdus[0].sender: not a Matrix user ID")]
    [InlineData("""{"origin":"listed.example","pdus":{"sender":"@mallory:evil.example"}}""", "pdus: must be an array")]
    [InlineData("""[{"sender":"@mallory:evil.example"}]""", "must be a JSON object")]
    public async Task MalformedTransactions_400BadJson(string body, string message)
    {
        await using var proxy = await StartLoggedProxyAsync();

        var (id, response) = await SendTransactionAsync(proxy, body);

        AssertRefused(response, id, 400, "M_BAD_JSON", message);
    }

    [Theory]
    [InlineData("""{"origin":"listed.example","pdus":[""")]
    [InlineData("""{"origin":"listed.example","pdus":[{"sender":"@mallory:evil.example",}]}""")]
    public async Task TransactionsThatAreNoJson_400NotJson(string body)
    {
        await using var proxy = await StartLoggedProxyAsync();

        var (id, response) = await SendTransactionAsync(proxy, body);

        AssertRefused(response, id, 400, "M_NOT_JSON");
    }

    [Fact]
    public async Task ListedOnlyTransaction_IsForwardedByteForByte()
    {
        await using var proxy = await StartLoggedProxyAsync();

        // Whitespace, escapes, raw non-ASCII, number spellings and unknown members: a re-serialisation would change them.
        var body = Transaction(
            " " + Message("@alice:listed.example").Replace("hello", "h\\u00e9llo \u00fc\\/") + ",\n\t" + Message("@bob:PARTNER.example.org:8448").Replace("7", "7.0e0")
                + """,{"type":"m.room.member","sender":"@alice:listed.example","state_key":"@carol:matrix.example.org","content":{"membership":"invite"},"x-unknown":[1,2]}""",
            """{"edu_type":"m.receipt","content":{"!r:listed.example":{"m.read":{"@alice:listed.example":{"event_ids":["$e"],"data":{"ts":1}}}}}},{"edu_type":"org.example.custom","content":{"user_id":"@mallory:evil.example"}}""");

        var (id, response) = await SendTransactionAsync(proxy, body);

        Assert.Equal(200, response.StatusCode);
        var received = _homeserver.Single(id);
        Assert.Equal(Encoding.UTF8.GetBytes(body), received.Body);
        Assert.Equal(SendPath, received.RawTarget);
    }

    [Fact]
    public async Task FiftyPdusOf64KiB_PassWithinTheBodyLimit()
    {
        await using var proxy = await StartLoggedProxyAsync();
        var filler = new string('x', 64 * 1024 - 250);
        var pdus = string.Join(",", Enumerable.Range(0, 50).Select(i => Message($"@user{i}:listed.example").Replace("hello", filler)));
        var body = Transaction(pdus, """{"edu_type":"m.typing","content":{"room_id":"!r:listed.example","user_id":"@user1:listed.example","typing":true}}""");
        Assert.True(body.Length > 50 * 64 * 1000, "the transaction must be as large as Synapse's largest");

        var (id, response) = await SendTransactionAsync(proxy, body);

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(Encoding.UTF8.GetByteCount(body), _homeserver.Single(id).BodyLength);
    }

    [Fact]
    public async Task CheckSwitchedOff_UnlistedSenderIsForwarded()
    {
        await using var proxy = await StartLoggedProxyAsync("Federation:CheckTransactionDomains=false");

        var (id, response) = await SendTransactionAsync(proxy, Transaction(Message("@mallory:evil.example")));

        Assert.Equal(200, response.StatusCode);
        Assert.Single(_homeserver.WithTestId(id));
    }

    [Fact]
    public async Task ADomainListedSinceTheLastPoll_IsFetchedAndTheTransactionForwarded()
    {
        await using var proxy = await StartLoggedProxyAsync();
        await WaitForListAsync(proxy);
        _registration.Publish("listed.example", "partner.example.org", "newcomer.example");

        var (id, response) = await SendTransactionAsync(proxy, Transaction(Message("@nina:newcomer.example")));

        Assert.Equal(200, response.StatusCode);
        Assert.Single(_homeserver.WithTestId(id));
    }

    [Fact]
    public async Task Refusals_AreCountedByReason_AndLoggedWithoutUserIds()
    {
        await using var proxy = await StartLoggedProxyAsync();
        await SendTransactionAsync(proxy, Transaction(Message("@alice:listed.example")));
        await SendTransactionAsync(proxy, Transaction(Message("@mallory:evil.example")));
        await SendTransactionAsync(proxy, """{"pdus":[{"sender":"@mallory:evil%2Eexample"}]}""");

        var metrics = (await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.Contains("messengerproxy_federation_transactions_scanned_total{direction=\"inbound\"} 3", metrics);
        Assert.Contains("messengerproxy_federation_transaction_refusals_total{direction=\"inbound\",reason=\"unlisted_domain\"} 1", metrics);
        Assert.Contains("messengerproxy_federation_transaction_refusals_total{direction=\"inbound\",reason=\"malformed\"} 1", metrics);
        Assert.Contains(_logs.Lines, l => l.Contains("Rejected PUT /_matrix/federation/v1/send/{txnId}: 403 M_FORBIDDEN", StringComparison.Ordinal));
        Assert.DoesNotContain(_logs.Lines, l => l.Contains("mallory", StringComparison.Ordinal) || l.Contains("alice", StringComparison.Ordinal) || l.Contains("!r:", StringComparison.Ordinal));
    }
}
