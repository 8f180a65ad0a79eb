using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// Transactions our homeserver sends out (the intercepted <c>PUT /_matrix/federation/v1/send/{txnId}</c>): refused
/// whole, never sent, when a PDU or EDU names a server outside the federation; sent byte for byte otherwise. A proxy
/// of its own, so the counts are exact.
/// </summary>
public sealed class OutboundTransactionDomainTests(OutboundTransactionDomainTests.Fixture fixture) : IClassFixture<OutboundTransactionDomainTests.Fixture>
{
    private static string Transaction(string pdus = "", string edus = "") =>
        $$"""{"origin":"own.test","origin_server_ts":1,"pdus":[{{pdus}}],"edus":[{{edus}}]}""";

    private const string OwnMessage = """{"room_id":"!r:own.test","sender":"@alice:own.test","type":"m.room.message","content":{"body":"hi"},"depth":2}""";

    private static async Task<(string Id, RawResponse Response)> SendAsync(OutboundFixture proxy, string body)
    {
        var id = Guid.NewGuid().ToString("N");
        var (_, tls, client) = await proxy.OpenTunnelAsync("remote.test", proxy.RemotePort);
        using (client)
        await using (tls)
        {
            var response = await OutboundFixture.SendInTunnelAsync(tls, "PUT", "/_matrix/federation/v1/send/t1", "remote.test",
                $"Authorization: {OutboundFixture.XMatrix("remote.test")}\r\n{RecordingUpstream.TestIdHeader}: {id}\r\nContent-Type: application/json\r\n", body);
            return (id, response);
        }
    }

    private void AssertRefused(RawResponse response, string id, int status, string errcode, string message)
    {
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {response.BodyText}");
        using var error = JsonDocument.Parse(response.Body);
        Assert.Equal(errcode, error.RootElement.GetProperty("errcode").GetString());
        Assert.Contains(message, error.RootElement.GetProperty("error").GetString());
        Assert.Empty(fixture.Remote.WithTestId(id));
        Assert.Empty(fixture.Remote.HeadsWithTestId(id));
    }

    [Fact]
    public async Task ToDeviceMessageForAnUnlistedUser_403AndNeverSent()
    {
        var (id, response) = await SendAsync(fixture, Transaction(OwnMessage,
            """{"edu_type":"m.direct_to_device","content":{"sender":"@alice:own.test","type":"m.room_key_request","message_id":"m","messages":{"@bob:remote.test":{"*":{}},"@mallory:unlisted.test":{"*":{}}}}}"""));

        AssertRefused(response, id, 403, "M_FORBIDDEN", "unlisted.test is not part of the federation (edus[0].content.messages)");
    }

    [Fact]
    public async Task PduOfAnUnlistedSender_403AndNeverSent()
    {
        var (id, response) = await SendAsync(fixture, Transaction(OwnMessage.Replace("@alice:own.test", "@mallory:unlisted.test")));

        AssertRefused(response, id, 403, "M_FORBIDDEN", "unlisted.test is not part of the federation (pdus[0].sender)");
    }

    [Theory]
    [InlineData("""{"origin":"own.test","pdus":[{"sender":"@alice:own.test","sender":"@mallory:unlisted.test"}]}""", 400, "M_BAD_JSON", "pdus[0].sender: repeated")]
    [InlineData("""{"origin":"own.test","edus":[{"edu_type":"m.typing","content":{"user_id":7}}]}""", 400, "M_BAD_JSON", "edus[0].content.user_id: not a Matrix user ID")]
    [InlineData("""{"origin":"own.test","pdus":[""", 400, "M_NOT_JSON", "not valid JSON")]
    [InlineData("{\"origin\":\"own.test\",\"pdus\":[{\"sender\":\"@\u00ff\u00fe:own.test\"}]}", 400, "M_NOT_JSON", "UTF-8")]
    public async Task MalformedTransactions_RefusedAndNeverSent(string body, int status, string errcode, string message)
    {
        var bytes = body.Contains('\u00ff', StringComparison.Ordinal) ? Encoding.Latin1.GetBytes(body) : Encoding.UTF8.GetBytes(body);
        var id = Guid.NewGuid().ToString("N");
        var (_, tls, client) = await fixture.OpenTunnelAsync("remote.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            var head = $"PUT /_matrix/federation/v1/send/t2 HTTP/1.1\r\nHost: remote.test\r\nAuthorization: {OutboundFixture.XMatrix("remote.test")}\r\n"
                + $"{RecordingUpstream.TestIdHeader}: {id}\r\nContent-Length: {bytes.Length}\r\n\r\n";
            await tls.WriteAsync(Encoding.ASCII.GetBytes(head).Concat(bytes).ToArray(), TestContext.Current.CancellationToken);
            var response = await RawHttp.ReadResponseAsync(tls, false, TestContext.Current.CancellationToken);

            AssertRefused(response, id, status, errcode, message);
        }
    }

    [Fact]
    public async Task ListedOnlyTransaction_IsSentByteForByte()
    {
        var body = Transaction(" " + OwnMessage + ",\n" + OwnMessage.Replace("hi", "h\\u00e9 \u00fc"),
            """{"edu_type":"m.receipt","content":{"!r:own.test":{"m.read":{"@alice:own.test":{"event_ids":["$e"],"data":{"ts":1}}}}}},{"edu_type":"m.direct_to_device","content":{"sender":"@alice:own.test","messages":{"@bob:remote.test":{"D":{"k":1}}}}}""");

        var (id, response) = await SendAsync(fixture, body);

        Assert.True(response.StatusCode == 200, response.BodyText);
        Assert.Equal(Encoding.UTF8.GetBytes(body), fixture.Remote.Single(id).Body);
    }

    [Fact]
    public async Task ChunkedListedTransaction_IsSentWholeWithItsLength()
    {
        var body = Transaction(OwnMessage);
        var (id, exit, stdout, stderr) = await fixture.CurlAsync(
            "-X", "PUT", fixture.RemoteUrl("/_matrix/federation/v1/send/chunked"),
            "-H", "Authorization: " + OutboundFixture.XMatrix("remote.test"),
            "-H", "Transfer-Encoding: chunked",
            "--data-binary", body,
            "--write-out", "\n%{http_code}");

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n200", stdout);
        var received = fixture.Remote.Single(id);
        Assert.Equal(body, Encoding.UTF8.GetString(received.Body));
        Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), received.Header("Content-Length"));
    }

    [Fact]
    public async Task ScansAndRefusals_AreCountedAsOutbound()
    {
        await SendAsync(fixture, Transaction(OwnMessage));
        await SendAsync(fixture, Transaction(OwnMessage.Replace("@alice:own.test", "@mallory:unlisted.test")));

        var text = (await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        Assert.Contains("messengerproxy_federation_transactions_scanned_total{direction=\"outbound\"}", text);
        Assert.Contains("messengerproxy_federation_transaction_refusals_total{direction=\"outbound\",reason=\"unlisted_domain\"}", text);
        Assert.DoesNotContain("direction=\"inbound\"", text);
        Assert.DoesNotContain(fixture.Logs.Lines, l => l.Contains("mallory", StringComparison.Ordinal) || l.Contains("alice", StringComparison.Ordinal));
    }

    public sealed class Fixture : OutboundFixture;
}

/// <summary>With <c>Federation:CheckTransactionDomains=false</c> our homeserver's transactions go out unread.</summary>
public sealed class OutboundTransactionDomainsOffTests(OutboundTransactionDomainsOffTests.Fixture fixture) : IClassFixture<OutboundTransactionDomainsOffTests.Fixture>
{
    [Fact]
    public async Task UnlistedSender_IsSent()
    {
        const string body = """{"origin":"own.test","pdus":[{"sender":"@mallory:unlisted.test","type":"m.room.message"}]}""";
        var (id, exit, stdout, stderr) = await fixture.CurlAsync(
            "-X", "PUT", fixture.RemoteUrl("/_matrix/federation/v1/send/off"),
            "-H", "Authorization: " + OutboundFixture.XMatrix("remote.test"),
            "--data-binary", body,
            "--write-out", "\n%{http_code}");

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n200", stdout);
        Assert.Equal(body, Encoding.UTF8.GetString(fixture.Remote.Single(id).Body));
    }

    public sealed class Fixture : OutboundFixture
    {
        protected override IEnumerable<string> ExtraSettings => ["Federation:CheckTransactionDomains=false"];
    }
}
