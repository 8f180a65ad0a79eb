using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidthCli;

namespace MessengerProxy.LowBandwidthBench;

/// <summary>
/// Datagrams and bytes of MSC3079's scenario — send one "Hello World" m.room.message and receive the answer —
/// counted by a UDP relay between the client and the front door: (a) with a full DTLS handshake, (b) on the
/// established association. IP bytes add the IPv4 (20) and UDP (8) headers to each datagram's payload.
/// Usage: --wire &lt;front door DTLS port&gt; &lt;CA PEM&gt; &lt;access token&gt;
/// </summary>
internal static class WireCount
{
    private static readonly byte[] s_message = """{"msgtype":"m.text","body":"Hello World"}"""u8.ToArray();

    public static async Task<int> RunAsync(string[] args)
    {
        var server = new IPEndPoint(IPAddress.Loopback, int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture));
        var ca = args[1];
        var token = args[2];
        using var relay = new CountingRelay(server);
        var uri = new Uri($"coaps://127.0.0.1:{relay.Port}/");

        using var client = await LowBandwidthClient.ConnectAsync(uri, ca, insecure: false);
        var (first, _) = client.Send("PUT", "/_matrix/client/v3/rooms/!room:example.org/send/m.room.message/txn1", string.Empty, token, s_message, integerKeys: true);
        var withHandshake = relay.Take();
        var (second, _) = client.Send("PUT", "/_matrix/client/v3/rooms/!room:example.org/send/m.room.message/txn2", string.Empty, token, s_message, integerKeys: true);
        var established = relay.Take();
        if (first is null || second is null)
        {
            Console.Error.WriteLine("no answer from the front door");
            return 1;
        }

        Console.WriteLine(JsonSerializer.Serialize(new { Phase = "coap-dtls-handshake", Code = MessengerProxy.LowBandwidth.Coap.CoapMessage.FormatCode(first.Code), withHandshake.Up, withHandshake.Down }));
        Console.WriteLine(JsonSerializer.Serialize(new { Phase = "coap-dtls-established", Code = MessengerProxy.LowBandwidth.Coap.CoapMessage.FormatCode(second.Code), established.Up, established.Down }));
        return 0;
    }

    internal sealed record Direction(int Datagrams, long PayloadBytes, long IpBytes, List<int> Sizes);

    internal sealed record Counts(Direction Up, Direction Down);

    /// <summary>Forwards datagrams between one client and the server and counts them per direction.</summary>
    private sealed class CountingRelay : IDisposable
    {
        private readonly Socket _front = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly Socket _back = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly CancellationTokenSource _stop = new();
        private readonly Lock _gate = new();
        private readonly List<int> _up = [];
        private readonly List<int> _down = [];
        private EndPoint? _client;

        public CountingRelay(IPEndPoint server)
        {
            _front.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _back.Connect(server);
            Port = ((IPEndPoint)_front.LocalEndPoint!).Port;
            _ = Task.Run(() => PumpUpAsync(_stop.Token));
            _ = Task.Run(() => PumpDownAsync(_stop.Token));
        }

        public int Port { get; }

        /// <summary>The counts since the last call, once the link has been quiet for a moment.</summary>
        public Counts Take()
        {
            var quiet = Stopwatch.StartNew();
            var last = -1;
            while (quiet.ElapsedMilliseconds < 300)
            {
                Thread.Sleep(20);
                int now;
                lock (_gate)
                {
                    now = _up.Count + _down.Count;
                }

                if (now != last)
                {
                    last = now;
                    quiet.Restart();
                }
            }

            lock (_gate)
            {
                var counts = new Counts(Of(_up), Of(_down));
                _up.Clear();
                _down.Clear();
                return counts;
            }
        }

        private static Direction Of(List<int> sizes) => new(sizes.Count, sizes.Sum(s => (long)s), sizes.Sum(s => (long)s + 28), [.. sizes]);

        private async Task PumpUpAsync(CancellationToken cancellationToken)
        {
            var buffer = new byte[65_536];
            while (!cancellationToken.IsCancellationRequested)
            {
                var received = await _front.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cancellationToken);
                _client = received.RemoteEndPoint;
                lock (_gate)
                {
                    _up.Add(received.ReceivedBytes);
                }

                await _back.SendAsync(buffer.AsMemory(0, received.ReceivedBytes), SocketFlags.None, cancellationToken);
            }
        }

        private async Task PumpDownAsync(CancellationToken cancellationToken)
        {
            var buffer = new byte[65_536];
            while (!cancellationToken.IsCancellationRequested)
            {
                var length = await _back.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                lock (_gate)
                {
                    _down.Add(length);
                }

                if (_client is { } client)
                {
                    await _front.SendToAsync(buffer.AsMemory(0, length), SocketFlags.None, client, cancellationToken);
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _front.Dispose();
            _back.Dispose();
        }
    }
}

/// <summary>
/// Full DTLS handshakes per second against the front door: concurrent clients connect, complete the
/// handshake, close, and start again. Usage: --handshakes &lt;port&gt; &lt;CA PEM&gt; &lt;seconds&gt; &lt;clients&gt;
/// </summary>
internal static class Handshakes
{
    public static async Task<int> RunAsync(string[] args)
    {
        var uri = new Uri($"coaps://127.0.0.1:{args[0]}/");
        var ca = args[1];
        var seconds = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
        var clients = int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
        var until = Stopwatch.StartNew();
        var completed = 0;
        var failed = 0;
        var tasks = Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (until.Elapsed.TotalSeconds < seconds)
            {
                try
                {
                    using var client = await LowBandwidthClient.ConnectAsync(uri, ca, insecure: false);
                    Interlocked.Increment(ref completed);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        var elapsed = until.Elapsed.TotalSeconds;
        Console.WriteLine(JsonSerializer.Serialize(new { Phase = "handshakes", Clients = clients, Seconds = Math.Round(elapsed, 1), Completed = completed, Failed = failed, PerSecond = Math.Round(completed / elapsed, 1) }));
        return failed == 0 ? 0 : 1;
    }
}
