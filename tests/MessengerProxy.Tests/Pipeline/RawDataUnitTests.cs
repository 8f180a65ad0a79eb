using System.Buffers;
using System.Text.Json;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.RawData;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Tests.Pipeline;

/// <summary>The raw-data record's parts on their own: user agent parsing, the JSON schema, the settings, the invitee classification.</summary>
public sealed class RawDataUnitTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private static readonly string[] s_topLevel = ["start", "durationInMs", "operation", "status", "message"];
    private static readonly string[] s_message = ["Inst-ID", "M-Dom", "UA-PV", "UA-PTV", "UA-A", "UA-P", "UA-OS", "UA-OS-VERSION", "UA-cid", "profOID", "Res", "sizeIn", "sizeOut", "tID"];

    [Fact]
    public void TimUserAgent_TheTestSuitesHeader_NamesClientAndPlatform()
    {
        var agent = TimUserAgent.ParseTim("gematikTestsuite, web");

        Assert.Equal(TimUserAgent.Unknown with { ClientId = "gematikTestsuite", Platform = "web" }, agent);
    }

    [Fact]
    public void TimUserAgent_EverySeven_FieldsInTheirOrder()
    {
        var agent = TimUserAgent.ParseTim("TIMRefClient, mobil, 1.2.3, 1.1.1, Messenger-Client, Android, 14");

        Assert.Equal(new TimUserAgent("1.2.3", "1.1.1", "Messenger-Client", "mobil", "Android", "14", "TIMRefClient"), agent);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("client, tablet")]
    [InlineData("client, WEB")]
    [InlineData("client,,web")]
    [InlineData("client, web,")]
    [InlineData("a, web, c, d, e, f, g, h")]
    [InlineData("clïent, web")]
    [InlineData("client\t, web")]
    public void TimUserAgent_Malformed_IsNotAvailableThroughout(string header)
    {
        Assert.Equal(TimUserAgent.Unknown, TimUserAgent.ParseTim(header));
    }

    [Fact]
    public void TimUserAgent_FieldOverTheLimit_IsMalformed()
    {
        Assert.Equal(TimUserAgent.Unknown, TimUserAgent.ParseTim(new string('x', TimUserAgent.MaxFieldLength + 1) + ", web"));
        Assert.Equal(new string('x', TimUserAgent.MaxFieldLength), TimUserAgent.ParseTim(new string('x', TimUserAgent.MaxFieldLength) + ", web").ClientId);
    }

    [Fact]
    public void LegacyUseragent_JsonHeader_IsTheFallback()
    {
        var headers = new HeaderDictionary
        {
            ["Useragent"] = """{"Produktversion":"0.32.2","Produkttypversion":"1.1.1","Auspraegung":"Messenger-Client","Plattform":"stationaer","OS":"Linux","OS-Version":"6.1","client_id":"TIMRefMessengerClient"}""",
        };

        Assert.Equal(new TimUserAgent("0.32.2", "1.1.1", "Messenger-Client", "stationaer", "Linux", "6.1", "TIMRefMessengerClient"), TimUserAgent.From(headers));
    }

    [Fact]
    public void TimHeader_WinsOverTheLegacyHeader()
    {
        var headers = new HeaderDictionary { ["X-TIM-User-Agent"] = "gematikTestsuite, web", ["Useragent"] = """{"client_id":"legacy"}""" };

        Assert.Equal("gematikTestsuite", TimUserAgent.From(headers).ClientId);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[\"client\"]")]
    [InlineData("\"client\"")]
    [InlineData("{\"client_id\":")]
    public void LegacyUseragent_Malformed_IsNotAvailableThroughout(string header)
    {
        Assert.Equal(TimUserAgent.Unknown, TimUserAgent.ParseLegacy(header));
    }

    [Fact]
    public void LegacyUseragent_MemberOfTheWrongTypeOrUnknownPlatform_IsNotAvailable()
    {
        var agent = TimUserAgent.ParseLegacy("""{"Produktversion":7,"Plattform":"desktop","OS":"iOS","client_id":""}""");

        Assert.Equal(TimUserAgent.Unknown with { OperatingSystem = "iOS" }, agent);
    }

    [Fact]
    public void NoHeaderOrARepeatedOne_IsNotAvailable()
    {
        Assert.Equal(TimUserAgent.Unknown, TimUserAgent.From(new HeaderDictionary()));
        Assert.Equal(TimUserAgent.Unknown, TimUserAgent.From(new HeaderDictionary { ["X-TIM-User-Agent"] = new(["a, web", "b, web"]) }));
    }

    [Fact]
    public void Record_AlwaysHasEveryField_EvenWhenEverythingIsUnknown()
    {
        var record = new RawDataRecord(DateTimeOffset.UnixEpoch, 0, "MP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES", 200, 0, 0, TimUserAgent.Unknown);

        var json = Write(record);

        Assert.Equal(s_topLevel, json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(s_message, json.GetProperty("message").EnumerateObject().Select(p => p.Name));
        Assert.All(json.GetProperty("message").EnumerateObject(), p => Assert.NotEqual(JsonValueKind.Null, p.Value.ValueKind));
        Assert.Equal("1970-01-01T00:00:00.000Z", json.GetProperty("start").GetString());
        Assert.Equal(0, json.GetProperty("message").GetProperty("sizeIn").GetInt32());
        Assert.Equal("n/a", json.GetProperty("message").GetProperty("UA-cid").GetString());
    }

    [Fact]
    public void Record_StatusIsTheCollectorsString_AndSizesAreCappedAtItsInt()
    {
        var record = new RawDataRecord(new DateTimeOffset(2026, 12, 1, 16, 0, 0, 123, TimeSpan.FromHours(1)), 250, "MP_CLIENT_LOGIN_REQUEST_ACCESS_TOKEN", 403, 5_000_000_000, 17, TimUserAgent.Unknown);

        var json = Write(record);

        Assert.Equal("2026-12-01T15:00:00.123Z", json.GetProperty("start").GetString());
        Assert.Equal(250, json.GetProperty("durationInMs").GetInt32());
        Assert.Equal("403", json.GetProperty("status").GetString());
        Assert.Equal("403", json.GetProperty("message").GetProperty("Res").GetString());
        Assert.Equal(int.MaxValue, json.GetProperty("message").GetProperty("sizeIn").GetInt64());
        Assert.Equal(17, json.GetProperty("message").GetProperty("sizeOut").GetInt64());
    }

    [Fact]
    public void Options_Enabled_NeedTheIdentityAndAValidCollectorUrl()
    {
        var result = new RawDataOptionsValidator().Validate(null, new RawDataOptions { CollectorUrl = "ftp://collector", MatrixDomain = "not a domain", QueueCapacity = 0, RetryDelay = TimeSpan.Zero });

        Assert.True(result.Failed);
        var errors = string.Join("\n", result.Failures!);
        Assert.Contains("RawData:CollectorUrl", errors);
        Assert.Contains("RawData:InstanceId must be set", errors);
        Assert.Contains("RawData:ProfessionOid must be set", errors);
        Assert.Contains("RawData:TelematikId must be set", errors);
        Assert.Contains("RawData:MatrixDomain must be the organisation's Matrix server name", errors);
        Assert.Contains("RawData:QueueCapacity must be positive", errors);
        Assert.Contains("RawData:RetryDelay must be positive", errors);
    }

    [Fact]
    public void Options_WithoutCollectorUrl_AreOffAndValid()
    {
        Assert.False(new RawDataOptions().Enabled);
        Assert.True(new RawDataOptionsValidator().Validate(null, new RawDataOptions { QueueCapacity = -1 }).Succeeded);
    }

    [Theory]
    [InlineData("@bob:hs.example", true)]
    [InlineData("@bob:HS.EXAMPLE", true)]
    [InlineData("@bob:evilhs.example", false)]
    [InlineData("@bob:hs.example.evil", false)]
    [InlineData("@bob:sub.hs.example", false)]
    [InlineData("@bob:hs.example:8448", false)]
    [InlineData("@hs.example:other.example", false)]
    [InlineData("hs.example", false)]
    public void Invitee_IsInsideOnlyOnTheSameServerName(string invitee, bool inside)
    {
        var reporter = Reporter("hs.example");
        var report = new RawDataReport("MP_EXCHANGE_EVENT_WITHIN_ORGANISATION", "MP_INVITE_WITHIN_ORGANISATION_INVITE", "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER");

        Assert.Equal(inside, reporter.IsInOrganisation(invitee));
        Assert.Equal(inside ? "MP_INVITE_WITHIN_ORGANISATION_INVITE" : "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER", reporter.OperationOf(report, new Request([invitee])));
    }

    [Fact]
    public void Invitees_AnyOutside_MakeTheRequestOutside_AndNoneKeepTheRowsOperation()
    {
        var reporter = Reporter("hs.example");
        var report = new RawDataReport("MP_EXCHANGE_EVENT_WITHIN_ORGANISATION", "MP_INVITE_WITHIN_ORGANISATION_INVITE", "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER");

        Assert.Equal("MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER", reporter.OperationOf(report, new Request(["@a:hs.example", "@b:other.example"])));
        Assert.Equal("MP_EXCHANGE_EVENT_WITHIN_ORGANISATION", reporter.OperationOf(report, new Request([])));
    }

    [Fact]
    public void FullQueue_DropsTheOldest()
    {
        var reporter = new RawDataReporter(Options("hs.example", capacity: 2), Metrics(), new ManualTimeProvider(DateTimeOffset.UnixEpoch), NullLogger<RawDataReporter>.Instance);
        var context = new DefaultHttpContext();
        var report = new RawDataReport("MP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES", null, null);

        for (var status = 200; status < 203; status++)
        {
            context.Response.StatusCode = status;
            reporter.Report(context, new Request([]), report, reporter.Arrived(), null);
        }

        Assert.True(reporter.Queue!.TryRead(out var oldest));
        Assert.Equal(201, oldest.Status);
        Assert.True(reporter.Queue.TryRead(out var newest));
        Assert.Equal(202, newest.Status);
        Assert.False(reporter.Queue.TryRead(out _));
    }

    private static JsonElement Write(RawDataRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>();
        record.WriteTo(buffer, new RawDataIdentity("inst", "hs.example", "1.2.276.0.76.4.53", "1-SMC-B"));
        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }

    private static IOptions<RawDataOptions> Options(string domain, int capacity = 100) => Microsoft.Extensions.Options.Options.Create(new RawDataOptions
    {
        CollectorUrl = "http://collector.example/add-performance-data",
        InstanceId = "inst",
        MatrixDomain = domain,
        ProfessionOid = "1.2.276.0.76.4.53",
        TelematikId = "1-SMC-B",
        QueueCapacity = capacity,
    });

    private RawDataMetrics Metrics() => new(_services.GetRequiredService<IMeterFactory>());

    private RawDataReporter Reporter(string domain) =>
        new(Options(domain), Metrics(), TimeProvider.System, NullLogger<RawDataReporter>.Instance);

    public void Dispose() => _services.Dispose();

    private sealed class Request(IReadOnlyList<string> invitees) : IProxyRequest
    {
        public string LogEndpoint => "*";

        public RequestOutcome Outcome { get; set; }

        public RawDataReport? RawData => null;

        public IReadOnlyList<string> Invitees() => invitees;
    }
}
