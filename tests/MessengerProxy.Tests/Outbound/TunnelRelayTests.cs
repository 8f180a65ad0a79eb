using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using MessengerProxy.Outbound.Tunnels;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// The byte relay of extra-host tunnels, on a clock of the test's: the client side is a pair of pipes (as
/// Kestrel's transport), the upstream a loopback socket.
/// </summary>
public sealed class TunnelRelayTests : IAsyncDisposable
{
    private static readonly TimeSpan s_idle = TimeSpan.FromMinutes(10);

    private readonly SteppedClock _clock = new();
    private readonly Pipe _fromClient = new();
    private readonly Pipe _toClient = new();
    private Socket? _remote;
    private NetworkStream? _upstream;

    // A hang guard, not a timing assertion: a relay that neither forwards nor ends fails the test instead of the run.
    private readonly CancellationTokenSource _hangGuard = CreateHangGuard();

    private CancellationToken Ct => _hangGuard.Token;

    [Fact]
    public async Task BytesFlowBothWays_UntilTheRemoteCloses()
    {
        var relay = await StartAsync();

        await _fromClient.Writer.WriteAsync("hello"u8.ToArray(), Ct);
        Assert.Equal("hello", await ReceiveAtRemoteAsync(5));
        await _remote!.SendAsync("world"u8.ToArray(), Ct);
        Assert.Equal("world", await ReceiveAtClientAsync(5));

        _remote.Shutdown(SocketShutdown.Send);
        await relay.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    [Fact]
    public async Task ManySegments_ArriveIntactAndInOrderBothWays()
    {
        var relay = await StartAsync();
        var payload = new byte[1024 * 1024 + 17];
        Random.Shared.NextBytes(payload);

        var toRemote = SendFromClientAsync(payload);
        var atRemote = await ReceiveBytesAtRemoteAsync(payload.Length);
        await toRemote;
        Assert.Equal(payload, atRemote);

        var toClient = _remote!.SendAsync(payload, Ct).AsTask();
        var result = await _toClient.Reader.ReadAtLeastAsync(payload.Length, Ct);
        Assert.Equal(payload, result.Buffer.Slice(0, payload.Length).ToArray());
        _toClient.Reader.AdvanceTo(result.Buffer.GetPosition(payload.Length));
        await toClient;
        Assert.False(relay.IsCompleted);
    }

    [Fact]
    public async Task SilentBothWays_EndsOnceTheIdleTimeoutHasPassedOnTheClock()
    {
        var relay = await StartAsync();

        _clock.Advance(s_idle - TimeSpan.FromMinutes(1));
        await Task.Delay(100, Ct);
        Assert.False(relay.IsCompleted);

        // Checked four times per timeout: over by a quarter at most.
        _clock.Advance(TimeSpan.FromMinutes(4));
        await relay.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    [Fact]
    public async Task TrafficEitherWay_PostponesTheIdleEnd()
    {
        var relay = await StartAsync();

        _clock.Advance(TimeSpan.FromMinutes(8));
        await _remote!.SendAsync("ping"u8.ToArray(), Ct);
        Assert.Equal("ping", await ReceiveAtClientAsync(4));
        _clock.Advance(TimeSpan.FromMinutes(8));
        await _fromClient.Writer.WriteAsync("pong"u8.ToArray(), Ct);
        Assert.Equal("pong", await ReceiveAtRemoteAsync(4));

        // 16 minutes since the start, 8 since the last byte: still open, as the next byte through shows.
        _clock.Advance(TimeSpan.FromMinutes(8));
        await _remote.SendAsync("ping"u8.ToArray(), Ct);
        Assert.Equal("ping", await ReceiveAtClientAsync(4));
        Assert.False(relay.IsCompleted);

        _clock.Advance(s_idle + TimeSpan.FromMinutes(3));
        await relay.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    [Fact]
    public async Task ClientEnds_RemoteSeesTheEndOfItsStream()
    {
        var relay = await StartAsync();

        await _fromClient.Writer.CompleteAsync();

        var buffer = new byte[16];
        Assert.Equal(0, await _remote!.ReceiveAsync(buffer, Ct));
        await relay.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    public async ValueTask DisposeAsync()
    {
        _hangGuard.Dispose();
        _remote?.Dispose();
        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }
    }

    private static CancellationTokenSource CreateHangGuard()
    {
        var guard = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        guard.CancelAfter(TimeSpan.FromSeconds(60));
        return guard;
    }

    private async Task<Task> StartAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint, Ct);
        _remote = await listener.AcceptSocketAsync(Ct);
        _upstream = new NetworkStream(client, ownsSocket: true);
        var relay = new TunnelRelay(_clock, s_idle);
        return relay.RunAsync(new DuplexPipe(_fromClient.Reader, _toClient.Writer), _upstream, Ct);
    }

    private async Task<string> ReceiveAtRemoteAsync(int count) => System.Text.Encoding.ASCII.GetString(await ReceiveBytesAtRemoteAsync(count));

    private async Task<byte[]> ReceiveBytesAtRemoteAsync(int count)
    {
        var buffer = new byte[count];
        var total = 0;
        while (total < count)
        {
            var read = await _remote!.ReceiveAsync(buffer.AsMemory(total), Ct);
            Assert.True(read > 0, "the relay closed the upstream early");
            total += read;
        }

        return buffer;
    }

    // In pieces of odd sizes, so segments and reads do not line up.
    private async Task SendFromClientAsync(byte[] payload)
    {
        for (var offset = 0; offset < payload.Length; offset += 7919)
        {
            await _fromClient.Writer.WriteAsync(payload.AsMemory(offset, Math.Min(7919, payload.Length - offset)), Ct);
        }
    }

    private async Task<string> ReceiveAtClientAsync(int count)
    {
        var result = await _toClient.Reader.ReadAtLeastAsync(count, Ct);
        var text = System.Text.Encoding.ASCII.GetString(result.Buffer.Slice(0, count).ToArray());
        _toClient.Reader.AdvanceTo(result.Buffer.GetPosition(count));
        return text;
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>A clock whose timestamps and timers move only when the test advances it; due timers fire in order.</summary>
    private sealed class SteppedClock : TimeProvider
    {
        private readonly Lock _gate = new();
        private readonly List<SteppedTimer> _timers = [];
        private long _now;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp()
        {
            lock (_gate)
            {
                return _now;
            }
        }

        public override DateTimeOffset GetUtcNow() => DateTimeOffset.UnixEpoch.AddTicks(GetTimestamp());

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new SteppedTimer(this, callback, state, period);
            lock (_gate)
            {
                timer.DueAt = _now + dueTime.Ticks;
                _timers.Add(timer);
            }

            return timer;
        }

        public void Advance(TimeSpan by)
        {
            long end;
            lock (_gate)
            {
                end = _now + by.Ticks;
            }

            while (true)
            {
                SteppedTimer? due;
                lock (_gate)
                {
                    due = _timers.Where(t => t.DueAt <= end).MinBy(t => t.DueAt);
                    if (due is null)
                    {
                        _now = end;
                        return;
                    }

                    _now = Math.Max(_now, due.DueAt);
                    if (due.Period > TimeSpan.Zero)
                    {
                        due.DueAt += due.Period.Ticks;
                    }
                    else
                    {
                        _timers.Remove(due);
                    }
                }

                due.Fire();
            }
        }

        private void Remove(SteppedTimer timer)
        {
            lock (_gate)
            {
                _timers.Remove(timer);
            }
        }

        private sealed class SteppedTimer(SteppedClock clock, TimerCallback callback, object? state, TimeSpan period) : ITimer
        {
            public long DueAt { get; set; }

            public TimeSpan Period { get; } = period;

            public void Fire() => callback(state);

            public bool Change(TimeSpan dueTime, TimeSpan period) => throw new NotSupportedException();

            public void Dispose() => clock.Remove(this);

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }
}
