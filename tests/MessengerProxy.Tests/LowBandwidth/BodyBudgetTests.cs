using System.Diagnostics.Metrics;
using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Server;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>The memory budget shared by all associations' uploads and kept answers, on a clock the test moves.</summary>
public sealed class BodyBudgetTests : IDisposable
{
    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    [Fact]
    public void Answers_LeastRecentlyUsedDroppedForNewOnes()
    {
        var budget = Create(limit: 8192);
        var a = budget.Keep(Answer(3000))!;
        var b = budget.Keep(Answer(3000))!;
        Assert.NotNull(budget.Read(a, _clock.GetUtcNow()));

        var c = budget.Keep(Answer(3000))!;

        Assert.Null(budget.Read(b, _clock.GetUtcNow()));
        Assert.NotNull(budget.Read(a, _clock.GetUtcNow()));
        Assert.NotNull(budget.Read(c, _clock.GetUtcNow()));
        Assert.Equal(6000, budget.Used);
    }

    [Fact]
    public void AnswerLargerThanTheWholeBudget_Refused_NothingElseDropped()
    {
        var budget = Create(limit: 4096);
        var kept = budget.Keep(Answer(1000))!;

        Assert.Null(budget.Keep(Answer(4097)));
        Assert.NotNull(budget.Read(kept, _clock.GetUtcNow()));
        Assert.Equal(1000, budget.Used);
    }

    [Fact]
    public void Upload_GrowsInOrder_TakeGivesTheWholeBody_AndFreesIt()
    {
        var budget = Create(limit: 1 << 20);
        var upload = budget.StartUpload();
        var body = Enumerable.Range(0, 2500).Select(i => (byte)i).ToArray();

        Assert.Equal(UploadStep.Appended, budget.Append(upload, 0, body.AsSpan(0, 1024)));
        Assert.Equal(UploadStep.Appended, budget.Append(upload, 1024, body.AsSpan(1024, 1024)));
        Assert.Equal(UploadStep.Appended, budget.Append(upload, 2048, body.AsSpan(2048)));
        Assert.True(budget.Used >= 2500);

        Assert.Equal(body, budget.Take(upload));
        Assert.Equal(0, budget.Used);
        Assert.Null(budget.Take(upload));
    }

    [Fact]
    public void Upload_BlockOutOfOrder_EndsIt()
    {
        var budget = Create(limit: 1 << 20);
        var upload = budget.StartUpload();
        budget.Append(upload, 0, new byte[1024]);

        Assert.Equal(UploadStep.OutOfOrder, budget.Append(upload, 2048, new byte[1024]));
        Assert.Equal(UploadStep.Dropped, budget.Append(upload, 1024, new byte[1024]));
        Assert.Equal(0, budget.Used);
    }

    [Fact]
    public void Upload_IdleTooLong_Dropped_EvenWhenItsClientComesBack()
    {
        var budget = Create(limit: 1 << 20, uploadIdle: TimeSpan.FromSeconds(60));
        var upload = budget.StartUpload();
        budget.Append(upload, 0, new byte[1024]);
        _clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(UploadStep.Appended, budget.Append(upload, 1024, new byte[1024]));

        _clock.Advance(TimeSpan.FromSeconds(60));

        Assert.Equal(UploadStep.Dropped, budget.Append(upload, 2048, new byte[1024]));
        Assert.Equal(0, budget.Used);
    }

    [Fact]
    public void Upload_GrowingPastTheWholeBudget_NoRoom_ButOthersMakeRoomForIt()
    {
        var budget = Create(limit: 4096);
        var answer = budget.Keep(Answer(2048))!;
        var upload = budget.StartUpload();
        budget.Append(upload, 0, new byte[1024]);
        budget.Append(upload, 1024, new byte[1024]);

        // The answer is older: it goes so the upload can grow.
        Assert.Equal(UploadStep.Appended, budget.Append(upload, 2048, new byte[1024]));
        Assert.Null(budget.Read(answer, _clock.GetUtcNow()));

        Assert.Equal(UploadStep.Appended, budget.Append(upload, 3072, new byte[1024]));
        Assert.Equal(UploadStep.NoRoom, budget.Append(upload, 4096, new byte[1024]));
        Assert.Equal(0, budget.Used);
    }

    [Fact]
    public void Sweep_FreesIdleUploadsAndExpiredAnswers_WithoutTheirClients()
    {
        var budget = Create(limit: 1 << 20, uploadIdle: TimeSpan.FromSeconds(60));
        budget.Append(budget.StartUpload(), 0, new byte[1024]);
        budget.Keep(Answer(1000, lifetime: TimeSpan.FromSeconds(120)));
        var fresh = budget.Keep(Answer(500, lifetime: TimeSpan.FromSeconds(300)))!;

        _clock.Advance(TimeSpan.FromSeconds(60));
        budget.Sweep();
        Assert.Equal(1500, budget.Used);

        _clock.Advance(TimeSpan.FromSeconds(60));
        budget.Sweep();
        Assert.Equal(500, budget.Used);
        Assert.NotNull(budget.Read(fresh, _clock.GetUtcNow()));
    }

    [Fact]
    public void Release_IsIdempotent_AndAssociationCloseFreesEverything()
    {
        var budget = Create(limit: 1 << 20);
        var association = new CoapAssociation(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1), new NoSink(), budget, new CoapTransmission(TimeSpan.FromSeconds(2), 4), _clock, new BackgroundWork());
        association.Answers.Cache("GET /a", Answer(3000), _clock.GetUtcNow());
        association.Uploads.Append("t GET /b", 0, new byte[1024], 1024);
        Assert.True(budget.Used >= 4000);

        association.Close();
        association.Close();

        Assert.Equal(0, budget.Used);
    }

    public void Dispose() => _services.Dispose();

    private BodyBudget Create(int limit, TimeSpan? uploadIdle = null) => new(
        Options.Create(new LowBandwidthOptions { MaxBufferedBodyBytes = limit, UploadIdleTimeout = uploadIdle ?? TimeSpan.FromMinutes(10) }),
        _clock,
        new LowBandwidthMetrics(_services.GetRequiredService<IMeterFactory>()));

    private CachedBody Answer(int length, TimeSpan? lifetime = null) => new(0x45, 60, new byte[length], _clock.GetUtcNow() + (lifetime ?? TimeSpan.FromMinutes(2)));

    private sealed class NoSink : IDatagramSink
    {
        public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
