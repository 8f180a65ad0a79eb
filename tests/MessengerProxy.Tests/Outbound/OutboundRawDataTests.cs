using System.Text.Json;
using MessengerProxy.Tests.Pipeline;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>The outbound proxy reports through the same reporter: a federation request the homeserver sends out is a record too.</summary>
public sealed class OutboundRawDataTests(OutboundRawDataTests.Fixture fixture) : IClassFixture<OutboundRawDataTests.Fixture>
{
    [Fact]
    public async Task FederationEventFetch_GoingOut_IsReportedAsSender()
    {
        var (id, exit, stdout, stderr) = await fixture.CurlAsync(
            fixture.RemoteUrl("/_matrix/federation/v1/event/%24e1"),
            "-H", "Authorization: " + OutboundFixture.XMatrix("remote.test"),
            "--write-out", "\n%{http_code}");

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n200", stdout);
        fixture.Remote.Single(id);
        var record = Assert.Single(await RawDataReportingTests.RecordsAsync(fixture.Collector, 1));
        Assert.Equal("MP_EXCHANGE_EVENT_OUTSIDE_ORGANISATION_SENDER", record.GetProperty("operation").GetString());
        Assert.Equal("200", record.GetProperty("status").GetString());
        Assert.Equal(0, record.GetProperty("message").GetProperty("sizeIn").GetInt64());
        Assert.Equal(stdout.Length - "\n200".Length, record.GetProperty("message").GetProperty("sizeOut").GetInt64());
        Assert.Equal("n/a", record.GetProperty("message").GetProperty("UA-cid").GetString());
    }

    public sealed class Fixture : OutboundFixture, IAsyncLifetime
    {
        public RecordingUpstream Collector { get; private set; } = null!;

        // The proxy's settings name the collector, so it starts first.
        protected override IEnumerable<string> ExtraSettings => RawDataReportingTests.Settings(Collector);

        public new async ValueTask InitializeAsync()
        {
            Collector = await RecordingUpstream.StartAsync();
            await base.InitializeAsync();
        }

        public new async ValueTask DisposeAsync()
        {
            await base.DisposeAsync();
            await Collector.DisposeAsync();
        }
    }
}
