using System.Net;
using System.Text;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.LowBandwidth;
using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Server;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Policy.Versions;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>
/// The front door in process, its inbound pipeline replaced by a delegate the test controls: shutdown waits
/// for what the listeners started, and a disabled Debug level formats nothing per request.
/// </summary>
public sealed class FrontDoorShutdownTests
{
    [Fact]
    public async Task StopAsync_WaitsForARequestStillInTheInboundPipeline()
    {
        var ct = TestContext.Current.CancellationToken;
        var pipeline = new HangingPipeline(hangWhen: _ => true);
        await using var services = FrontDoor(pipeline.InvokeAsync);
        var server = services.GetRequiredService<LowBandwidthServer>();
        await server.StartAsync(ct);
        using var client = new CoapTestClient(server.PlainEndPoint!);

        await client.SendAsync(client.Request(CoapCodes.Get, "/0"));
        await pipeline.Hanging.WaitAsync(TimeSpan.FromSeconds(15), ct);

        await AssertStopWaitsForAsync(server, pipeline, ct);
    }

    [Fact]
    public async Task StopAsync_WaitsForTheObservationsPushLoop()
    {
        var ct = TestContext.Current.CancellationToken;

        // The registration's own sync answers at once; the first long-poll after it hangs.
        var pipeline = new HangingPipeline(hangWhen: context => context.Request.QueryString.Value!.Contains("since=s1", StringComparison.Ordinal));
        await using var services = FrontDoor(pipeline.InvokeAsync);
        var server = services.GetRequiredService<LowBandwidthServer>();
        await server.StartAsync(ct);
        var plain = server.Plain!;
        using var client = new CoapTestClient(server.PlainEndPoint!);

        var registration = await client.RequestAsync(client.Request(CoapCodes.Get, "/7", CoapType.Confirmable,
            CoapOption.FromUInt(CoapOptionNumbers.Observe, 0), CoapOption.FromString(CoapOptionNumbers.AccessToken, "t")));
        Assert.Equal(1u, registration.Find(CoapOptionNumbers.Observe)!.Value.UIntValue);
        await pipeline.Hanging.WaitAsync(TimeSpan.FromSeconds(15), ct);

        await AssertStopWaitsForAsync(server, pipeline, ct);
        Assert.Equal(0, plain.BackgroundTasks);
    }

    [Fact]
    public async Task DisabledDebugLevel_NoPeerFormatted_ForARequestOrAMalformedDatagram()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var services = FrontDoor(async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"versions":["v1.11"]}""", ct);
        });
        var endpoint = services.GetRequiredService<CoapEndpoint>();
        var peer = new CountingEndPoint(IPAddress.Loopback, 5683);
        var sink = new RecordingSink();
        var association = endpoint.CreateAssociation(peer, sink, new BackgroundWork());
        var request = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCodes.Get, MessageId = 1, Token = new byte[] { 1, 2 } };
        request.Add(CoapOption.FromString(CoapOptionNumbers.UriPath, "0"));

        await endpoint.ProcessAsync(association, request.Serialize(), ct);

        // Version 1, CON, a token length of 9 (RFC 7252 §3: 9 to 15 are reserved): malformed, answered with RST.
        await endpoint.ProcessAsync(association, new byte[] { 0x49, 0x01, 0x00, 0x02 }, ct);

        Assert.Equal(2, sink.Sent.Count);
        Assert.Equal(CoapCodes.Content, Parse(sink.Sent[0]).Code);
        Assert.Equal(CoapType.Reset, Parse(sink.Sent[1]).Type);
        Assert.Equal(0, peer.Formatted);
    }

    private static async Task AssertStopWaitsForAsync(LowBandwidthServer server, HangingPipeline pipeline, CancellationToken ct)
    {
        var stop = server.StopAsync(ct);

        // Stopping cancels the request; the pipeline then takes its time to finish, and StopAsync must wait for it.
        await pipeline.Aborted.WaitAsync(TimeSpan.FromSeconds(15), ct);
        await Task.WhenAny(stop, Task.Delay(TimeSpan.FromMilliseconds(500), ct));
        Assert.False(stop.IsCompleted, "StopAsync returned while work it started was still running");

        pipeline.Release();
        await stop.WaitAsync(TimeSpan.FromSeconds(15), ct);
        Assert.True(pipeline.Finished);
    }

    private static CoapMessage Parse(byte[] datagram)
    {
        Assert.Equal(CoapFormatError.None, CoapMessage.TryParse(datagram, out var message));
        return message;
    }

    /// <summary>The front door's services with <paramref name="pipeline"/> as the inbound pipeline, plain CoAP on a free loopback port.</summary>
    private static ServiceProvider FrontDoor(RequestDelegate pipeline)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LowBandwidth:Enabled"] = "true",
            ["LowBandwidth:PlainPort"] = "0",
        }).Build();
        var services = new ServiceCollection().AddLogging().AddMetrics();
        services.AddSingleton(new InboundEndpoints(Options.Create(new InboundOptions()), TimRulebook.Off));
        services.AddLowBandwidthFrontDoor(configuration);
        var provider = services.BuildServiceProvider();
        provider.ConnectLowBandwidthFrontDoor(pipeline);
        return provider;
    }

    /// <summary>Answers at once, except requests that <c>hangWhen</c> picks: those wait until aborted, then until released.</summary>
    private sealed class HangingPipeline(Func<HttpContext, bool> hangWhen)
    {
        private readonly TaskCompletionSource _hanging = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _finished;

        public Task Hanging => _hanging.Task;

        public Task Aborted => _aborted.Task;

        public bool Finished => _finished;

        public void Release() => _release.SetResult();

        public async Task InvokeAsync(HttpContext context)
        {
            context.Response.ContentType = "application/json";
            if (!hangWhen(context))
            {
                await context.Response.WriteAsync("""{"next_batch":"s1"}""");
                return;
            }

            _hanging.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }

            _aborted.TrySetResult();
            await _release.Task;
            context.Response.StatusCode = 502;
            _finished = true;
        }
    }

    /// <summary>Counts how often it is formatted as text.</summary>
    private sealed class CountingEndPoint(IPAddress address, int port) : IPEndPoint(address, port)
    {
        private int _formatted;

        public int Formatted => Volatile.Read(ref _formatted);

        public override string ToString()
        {
            Interlocked.Increment(ref _formatted);
            return base.ToString();
        }
    }

    private sealed class RecordingSink : IDatagramSink
    {
        public List<byte[]> Sent { get; } = [];

        public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
        {
            lock (Sent)
            {
                Sent.Add(datagram.ToArray());
            }

            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>The endpoint traits the front door reads instead of comparing paths, and where its /versions announcement lives.</summary>
public sealed class FrontDoorTraitsTests
{
    private static readonly EndpointTable s_table = EndpointTable.LoadMatrixV111();

    [Fact]
    public void BaseUrlAnswer_OnlyPostLoginAndGetWellKnownClient()
    {
        foreach (var endpoint in s_table.Endpoints)
        {
            var expected = endpoint.ToString() switch
            {
                "POST /_matrix/client/v3/login" => BaseUrlAnswer.Login,
                "GET /.well-known/matrix/client" => BaseUrlAnswer.WellKnownClient,
                _ => BaseUrlAnswer.None,
            };
            Assert.True(expected == endpoint.Traits.BaseUrlAnswer, $"{endpoint}: {endpoint.Traits.BaseUrlAnswer}");
        }
    }

    [Fact]
    public void SyncObservable_OnlyGetSync_AlsoThroughTheMatcher()
    {
        Assert.Equal(["GET /_matrix/client/v3/sync"], s_table.Endpoints.Where(e => e.Traits.SyncObservable).Select(e => e.ToString()));
        var matcher = new EndpointMatcher(s_table);
        Assert.True(matcher.Match("GET", "/_matrix/client/v3/sync").Endpoint!.Traits.SyncObservable);
        Assert.False(matcher.Match("GET", "/_matrix/client/v3/rooms/!r:x/messages").Endpoint!.Traits.SyncObservable);
    }

    [Fact]
    public void VersionsAdvertisement_LivesInPolicy_BelowTheInboundPipelineAndTheFrontDoor()
    {
        Assert.Equal(typeof(EndpointTable).Assembly, typeof(IVersionsAdvertisement).Assembly);
        Assert.True(typeof(IVersionsAdvertisement).IsAssignableFrom(typeof(LowBandwidthServer)));
    }
}

/// <summary>The parts of an association's CoAP state, each on its own.</summary>
public sealed class CoapAssociationPartsTests
{
    [Fact]
    public async Task ConfirmableSender_UnansweredAfterMaxRetransmitRetransmissions()
    {
        var sink = new CountingSink();
        var sender = new ConfirmableSender(sink, new CoapTransmission(TimeSpan.FromMilliseconds(5), MaxRetransmit: 2), TimeProvider.System);

        var outcome = await sender.SendAsync(Con(7), TestContext.Current.CancellationToken);

        Assert.Equal(ConfirmableOutcome.Unanswered, outcome);
        Assert.Equal(3, sink.Count);
    }

    [Fact]
    public async Task ConfirmableSender_AckResetAndClose_EachEndTheirMessage()
    {
        var ct = TestContext.Current.CancellationToken;
        var sink = new CountingSink();
        var sender = new ConfirmableSender(sink, new CoapTransmission(TimeSpan.FromMinutes(1), MaxRetransmit: 4), TimeProvider.System);

        var acknowledged = sender.SendAsync(Con(1), ct);
        var reset = sender.SendAsync(Con(2), ct);
        var closed = sender.SendAsync(Con(3), ct);
        Assert.True(sender.Complete(1, acknowledged: true));
        Assert.True(sender.Complete(2, acknowledged: false));
        Assert.False(sender.Complete(99, acknowledged: true));
        sender.Close();

        Assert.Equal(ConfirmableOutcome.Acknowledged, await acknowledged.WaitAsync(TimeSpan.FromSeconds(15), ct));
        Assert.Equal(ConfirmableOutcome.Reset, await reset.WaitAsync(TimeSpan.FromSeconds(15), ct));
        Assert.Equal(ConfirmableOutcome.Closed, await closed.WaitAsync(TimeSpan.FromSeconds(15), ct));
        Assert.Equal(ConfirmableOutcome.Closed, await sender.SendAsync(Con(4), ct));
        Assert.Equal(3, sink.Count);
    }

    [Fact]
    public void ExchangeCache_DuplicateGetsTheRememberedReply_UntilExchangeLifetime()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var exchanges = new ExchangeCache();

        Assert.True(exchanges.TryBegin(5, clock.GetUtcNow(), out _));
        Assert.False(exchanges.TryBegin(5, clock.GetUtcNow(), out var inProgress));
        Assert.Null(inProgress);

        exchanges.Remember(5, "reply"u8.ToArray());
        Assert.False(exchanges.TryBegin(5, clock.GetUtcNow(), out var again));
        Assert.Equal("reply", Encoding.UTF8.GetString(again!));

        clock.Advance(ExchangeCache.ExchangeLifetime);
        Assert.True(exchanges.TryBegin(5, clock.GetUtcNow(), out _));
    }

    [Fact]
    public async Task BackgroundWork_DrainWaitsForWorkStartedByTrackedWork()
    {
        var work = new BackgroundWork();
        var inner = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var innerStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        work.Run(async () =>
        {
            await Task.Yield();
            work.Run(async () =>
            {
                innerStarted.SetResult();
                await inner.Task;
            });
        });
        await innerStarted.Task.WaitAsync(TimeSpan.FromSeconds(15), TestContext.Current.CancellationToken);

        var drain = work.DrainAsync(TestContext.Current.CancellationToken);
        Assert.False(drain.IsCompleted);
        inner.SetResult();
        await drain.WaitAsync(TimeSpan.FromSeconds(15), TestContext.Current.CancellationToken);
        Assert.Equal(0, work.Count);
    }

    private static CoapMessage Con(ushort messageId) => new() { Type = CoapType.Confirmable, Code = CoapCodes.Content, MessageId = messageId, Token = new byte[] { 9 } };

    private sealed class CountingSink : IDatagramSink
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            return ValueTask.CompletedTask;
        }
    }
}
