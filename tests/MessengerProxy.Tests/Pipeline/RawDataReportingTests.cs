using System.Net;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.Inbound;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Tests.Pipeline;

/// <summary>
/// Raw-data reporting through the real inbound proxy: a stand-in homeserver, a stand-in collector that records what
/// it is POSTed, and what the record says about the request.
/// </summary>
public sealed class RawDataReportingTests
{
    private const string LoginBody = """{"type":"m.login.password","identifier":{"type":"m.id.user","user":"jürgen"},"password":"geheim"}""";

    // Multi-byte characters: sizes are bytes, not characters (the reference counted characters).
    private const string LoginAnswer = """{"user_id":"@jürgen:hs.example","access_token":"syt_secret","device_id":"DEVICE","display":"Jürgen Müller"}""";

    internal static string[] Settings(RecordingUpstream collector, params string[] more) =>
    [
        $"RawData:CollectorUrl={collector.BaseUri}add-performance-data",
        "RawData:InstanceId=proxy-test-1",
        "RawData:MatrixDomain=hs.example",
        "RawData:ProfessionOid=1.2.276.0.76.4.53",
        "RawData:TelematikId=1-SMC-B-Testkarte-883110000092568",
        "Tim:InviteCheck=Client",
        .. more,
    ];

    [Fact]
    public async Task Login_WithTimUserAgent_AndSlowHomeserver_IsOneRecordWithArrivalStartDurationAndExactByteCounts()
    {
        await using var homeserver = await RecordingUpstream.StartAsync();
        var received = DateTimeOffset.MaxValue;
        homeserver.Respond = async (context, request) =>
        {
            received = DateTimeOffset.UtcNow;
            await Task.Delay(200, TestContext.Current.CancellationToken);
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(LoginAnswer, TestContext.Current.CancellationToken);
        };
        await using var collector = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'), Settings(collector));
        using var client = proxy.CreateClient();
        using var login = new HttpRequestMessage(HttpMethod.Post, "/_matrix/client/v3/login") { Content = new StringContent(LoginBody, Encoding.UTF8, "application/json") };
        login.Headers.TryAddWithoutValidation("X-TIM-User-Agent", "gematikTestsuite, web");

        using var response = await client.SendAsync(login, TestContext.Current.CancellationToken);
        var answer = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        var record = Assert.Single(await RecordsAsync(collector, 1));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(LoginAnswer, Encoding.UTF8.GetString(answer));
        Assert.Equal("POST", collector.Requests.Single().Method);
        Assert.Equal("/add-performance-data", collector.Requests.Single().RawTarget);
        Assert.StartsWith("application/json", collector.Requests.Single().Header("Content-Type"));
        Assert.Equal("MP_CLIENT_LOGIN_REQUEST_ACCESS_TOKEN", record.GetProperty("operation").GetString());
        Assert.Equal("200", record.GetProperty("status").GetString());
        Assert.True(record.GetProperty("durationInMs").GetInt64() >= 200, $"durationInMs {record.GetProperty("durationInMs")}");
        var start = DateTimeOffset.Parse(record.GetProperty("start").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(start <= received, $"start {start:O} is after the homeserver received the request ({received:O})");
        var message = record.GetProperty("message");
        Assert.Equal(Encoding.UTF8.GetByteCount(LoginBody), message.GetProperty("sizeIn").GetInt64());
        Assert.Equal(answer.Length, message.GetProperty("sizeOut").GetInt64());
        Assert.NotEqual(LoginAnswer.Length, answer.Length);
        Assert.Equal("gematikTestsuite", message.GetProperty("UA-cid").GetString());
        Assert.Equal("web", message.GetProperty("UA-P").GetString());
        Assert.Equal("n/a", message.GetProperty("UA-PV").GetString());
        Assert.Equal("proxy-test-1", message.GetProperty("Inst-ID").GetString());
        Assert.Equal("hs.example", message.GetProperty("M-Dom").GetString());
        Assert.Equal("1.2.276.0.76.4.53", message.GetProperty("profOID").GetString());
        Assert.Equal("1-SMC-B-Testkarte-883110000092568", message.GetProperty("tID").GetString());
        Assert.Equal("200", message.GetProperty("Res").GetString());
        Assert.DoesNotContain("syt_secret", Encoding.UTF8.GetString(collector.Requests.Single().Body));
    }

    [Fact]
    public async Task CollectorDown_RequestIsAnsweredAsWithoutReporting_AndTheDroppedCounterRises()
    {
        await using var homeserver = await RecordingUpstream.StartAsync();
        await using var collector = await RecordingUpstream.StartAsync();
        var closed = $"http://127.0.0.1:{LoopbackPorts.Tcp()}/add-performance-data";
        await using var proxy = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'),
            [.. Settings(collector, "RawData:MaxAttempts=1"), $"RawData:CollectorUrl={closed}"]);
        await using var plain = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'));

        for (var i = 0; i < 3; i++)
        {
            var reported = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login"));
            var unreported = await RawHttp.SendAsync(plain.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login"));
            Assert.Equal(unreported.StatusCode, reported.StatusCode);
            Assert.Equal(unreported.BodyText, reported.BodyText);
        }

        var metrics = await WaitForMetricAsync(proxy, "messengerproxy_rawdata_records_dropped_total{reason=\"failed\"} 3");
        Assert.Contains("messengerproxy_rawdata_records_queued_total{operation=\"MP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES\"} 3", metrics);
        Assert.Contains("messengerproxy_rawdata_send_failures_total{reason=\"unreachable\"} 3", metrics);
        Assert.Empty(collector.Requests);
    }

    [Fact]
    public async Task FullQueue_DropsTheOldestRecord_AndCountsIt()
    {
        await using var homeserver = await RecordingUpstream.StartAsync();
        await using var collector = await RecordingUpstream.StartAsync();
        var release = new TaskCompletionSource();
        collector.Respond = async (context, request) =>
        {
            await release.Task.WaitAsync(TestContext.Current.CancellationToken);
            context.Response.StatusCode = 200;
        };
        await using var proxy = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'), Settings(collector, "RawData:QueueCapacity=1", "RawData:SendTimeout=00:01:00"));

        // The first record is being sent (the collector holds it); the queue of one then takes the next and drops the older.
        var first = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login"));
        await Poll.UntilAsync(() => collector.Requests.Count == 1);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(200, (await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login"))).StatusCode);
        }

        var metrics = await WaitForMetricAsync(proxy, "messengerproxy_rawdata_records_dropped_total{reason=\"queue_full\"} 2");
        release.SetResult();
        Assert.Equal(200, first.StatusCode);
        Assert.Contains("messengerproxy_rawdata_records_queued_total{operation=\"MP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES\"} 4", metrics);
        Assert.Equal(2, (await RecordsAsync(collector, 2)).Count);
    }

    [Theory]
    [InlineData("gematikTestsuite, tablet")]
    [InlineData("gematikTestsuite,, web")]
    [InlineData(",")]
    [InlineData("a,web,b,c,d,e,f,g")]
    public async Task MalformedTimUserAgent_IsReportedWithNotAvailable(string header)
    {
        await using var homeserver = await RecordingUpstream.StartAsync();
        await using var collector = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'), Settings(collector));

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login", $"X-TIM-User-Agent: {header}\r\n"));
        var message = Assert.Single(await RecordsAsync(collector, 1)).GetProperty("message");

        Assert.Equal(200, response.StatusCode);
        foreach (var field in new[] { "UA-PV", "UA-PTV", "UA-A", "UA-P", "UA-OS", "UA-OS-VERSION", "UA-cid" })
        {
            Assert.Equal("n/a", message.GetProperty(field).GetString());
        }
    }

    [Theory]
    [InlineData("@bob:hs.example", "MP_INVITE_WITHIN_ORGANISATION_INVITE")]
    [InlineData("@bob:HS.example", "MP_INVITE_WITHIN_ORGANISATION_INVITE")]
    [InlineData("@bob:evilhs.example", "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER")]
    [InlineData("@bob:hs.example.evil", "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER")]
    [InlineData("@bob:hs.example:8448", "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER")]
    public async Task ClientInvite_IsClassifiedByDomainEquality(string invitee, string operation)
    {
        await using var homeserver = await RecordingUpstream.StartAsync();
        await using var collector = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'), Settings(collector));

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("POST", "/_matrix/client/v3/rooms/!r:hs.example/invite",
            "Authorization: Bearer token\r\nContent-Type: application/json\r\n", $$"""{"user_id":"{{invitee}}"}"""));
        var record = Assert.Single(await RecordsAsync(collector, 1));

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(operation, record.GetProperty("operation").GetString());
    }

    [Theory]
    [InlineData("""{"name":"x"}""", "MP_EXCHANGE_EVENT_WITHIN_ORGANISATION")]
    [InlineData("""{"invite":["@bob:hs.example"]}""", "MP_INVITE_WITHIN_ORGANISATION_INVITE")]
    [InlineData("""{"invite":["@bob:evilhs.example"]}""", "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER")]
    [InlineData("""{"initial_state":[{"type":"m.room.member","state_key":"@bob:other.example","content":{"membership":"invite"}}]}""", "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER")]
    public async Task CreateRoom_IsClassifiedByItsInvitees(string body, string operation)
    {
        await using var homeserver = await RecordingUpstream.StartAsync();
        await using var collector = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'), Settings(collector));

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("POST", "/_matrix/client/v3/createRoom",
            "Authorization: Bearer token\r\nContent-Type: application/json\r\n", body));
        var record = Assert.Single(await RecordsAsync(collector, 1));

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(operation, record.GetProperty("operation").GetString());
    }

    [Fact]
    public async Task EndpointsWithoutAnOperation_AndRefusedPaths_AreNotReported()
    {
        await using var homeserver = await RecordingUpstream.StartAsync();
        await using var collector = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'), Settings(collector));

        Assert.Equal(200, (await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/versions"))).StatusCode);
        Assert.Equal(404, (await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_synapse/admin/v1/users"))).StatusCode);
        var preflight = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("OPTIONS", "/_matrix/client/v3/login",
            "Origin: https://web.example\r\nAccess-Control-Request-Method: POST\r\n"));
        Assert.True(preflight.StatusCode is 200 or 204, $"preflight answered {preflight.StatusCode}");
        Assert.Equal(200, (await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/login"))).StatusCode);

        // The last request is reported; had the others been, they would have arrived first (one sender, in order).
        var record = Assert.Single(await RecordsAsync(collector, 1));
        Assert.Equal("MP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES", record.GetProperty("operation").GetString());
    }

    [Fact]
    public async Task RefusedRequestOfAReportedEndpoint_IsReportedWithTheRefusal()
    {
        await using var homeserver = await RecordingUpstream.StartAsync();
        await using var collector = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'), Settings(collector));

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("POST", "/_matrix/client/v3/login", "Content-Type: application/json\r\n", "{not json"));
        var record = Assert.Single(await RecordsAsync(collector, 1));

        Assert.Equal(400, response.StatusCode);
        Assert.Equal("400", record.GetProperty("status").GetString());
        Assert.Equal(9, record.GetProperty("message").GetProperty("sizeIn").GetInt64());
        Assert.Equal(response.Body.Length, record.GetProperty("message").GetProperty("sizeOut").GetInt64());
        Assert.Empty(homeserver.Requests);
    }

    internal static async Task<List<JsonElement>> RecordsAsync(RecordingUpstream collector, int count)
    {
        await Poll.UntilAsync(() => collector.Requests.Count >= count);

        // A short grace period shows a record that should not have been sent.
        await Task.Delay(100, TestContext.Current.CancellationToken);
        return collector.Requests.Select(r => JsonDocument.Parse(r.Body).RootElement.Clone()).ToList();
    }

    internal static async Task<string> WaitForMetricAsync(ProxyHost proxy, string line)
    {
        var metrics = string.Empty;
        await Poll.UntilAsync(async () =>
        {
            metrics = (await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;
            return metrics.Contains(line, StringComparison.Ordinal);
        });
        return metrics;
    }
}
