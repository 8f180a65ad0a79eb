using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Connections;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Relays bytes both ways between a client connection and an upstream socket until either side ends, or both
/// are silent for the idle timeout. No buffer of its own: towards the client it reads straight into the
/// connection's pooled pipe memory, and only once data is there (a zero-byte read first), so an idle tunnel
/// pins no memory; towards the upstream it writes the pipe's own segments.
/// </summary>
internal sealed class TunnelRelay(TimeProvider time, TimeSpan idleTimeout)
{
    public async Task RunAsync(IDuplexPipe client, Stream upstream, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var idle = new IdleWatch(time, idleTimeout, stop);
        var toUpstream = ToUpstreamAsync(client.Input, upstream, idle, stop.Token);
        var toClient = ToClientAsync(upstream, client.Output, idle, stop.Token);
        var first = await Task.WhenAny(toUpstream, toClient);
        await stop.CancelAsync();
        await Task.WhenAll(toUpstream, toClient).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (first.Exception?.InnerException is { } failure and not (IOException or OperationCanceledException or SocketException or ConnectionAbortedException))
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    private static async Task ToUpstreamAsync(PipeReader from, Stream to, IdleWatch idle, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await from.ReadAsync(cancellationToken);

            // Activity counts when the bytes arrive, before the upstream can see them (as towards the client).
            idle.Touch();
            foreach (var segment in result.Buffer)
            {
                await to.WriteAsync(segment, cancellationToken);
            }

            from.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        if (to is NetworkStream network)
        {
            network.Socket.Shutdown(SocketShutdown.Send);
        }
    }

    private static async Task ToClientAsync(Stream from, PipeWriter to, IdleWatch idle, CancellationToken cancellationToken)
    {
        while (true)
        {
            // A zero-byte read completes once data is there (or at the end); its count says nothing.
            _ = await from.ReadAsync(Memory<byte>.Empty, cancellationToken);
            var read = await from.ReadAsync(to.GetMemory(), cancellationToken);
            if (read == 0)
            {
                break;
            }

            to.Advance(read);
            idle.Touch();
            var flush = await to.FlushAsync(cancellationToken);
            if (flush.IsCompleted)
            {
                break;
            }
        }
    }

    /// <summary>
    /// The idle timeout as a last-activity timestamp, written on every chunk, and a timer that checks it four
    /// times per timeout: rearming a timer per chunk costs a timer-queue update on the hot path. The price is
    /// precision: a silent tunnel ends between one and one and a quarter timeouts after its last byte.
    /// </summary>
    private sealed class IdleWatch : IDisposable
    {
        private readonly TimeProvider _time;
        private readonly TimeSpan _timeout;
        private readonly CancellationTokenSource _stop;
        private readonly ITimer _timer;
        private long _lastActivity;

        public IdleWatch(TimeProvider time, TimeSpan timeout, CancellationTokenSource stop)
        {
            _time = time;
            _timeout = timeout;
            _stop = stop;
            _lastActivity = time.GetTimestamp();
            var period = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, timeout.Ticks / 4));
            _timer = time.CreateTimer(static state => ((IdleWatch)state!).Check(), this, period, period);
        }

        public void Touch() => Volatile.Write(ref _lastActivity, _time.GetTimestamp());

        public void Dispose() => _timer.Dispose();

        private void Check()
        {
            if (_time.GetElapsedTime(Volatile.Read(ref _lastActivity)) < _timeout)
            {
                return;
            }

            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // A tick that raced the end of the relay; nothing left to stop.
            }
        }
    }
}
