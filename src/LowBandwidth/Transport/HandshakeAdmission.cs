using System.Net;
using System.Net.Sockets;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>How a ClientHello that passed the cookie exchange fared.</summary>
internal enum HandshakeAdmissionResult
{
    Admitted,

    /// <summary>Its /24 (IPv4) or /64 (IPv6) already has <see cref="LowBandwidthOptions.MaxHandshakesPerSourceNetwork"/> handshakes in progress.</summary>
    NetworkLimit,

    /// <summary>All <see cref="LowBandwidthOptions.MaxConcurrentHandshakes"/> slots are taken by handshakes that are not stalled.</summary>
    Full,
}

/// <summary>
/// Which DTLS handshakes may hold state. Peers that pass the cookie exchange and then go silent must not lock
/// every new client out for the whole <see cref="LowBandwidthOptions.HandshakeTimeout"/> (logins included), so:
/// at most <see cref="LowBandwidthOptions.MaxConcurrentHandshakes"/> in all and
/// <see cref="LowBandwidthOptions.MaxHandshakesPerSourceNetwork"/> per source network; a handshake whose peer
/// has sent nothing but its ClientHello is ended after <see cref="LowBandwidthOptions.HandshakeStallTimeout"/>;
/// and when every slot is taken, the oldest stalled handshake gives its slot to the newcomer.
/// </summary>
/// <typeparam name="TPeer">The transport's handshake state, compared by reference.</typeparam>
internal sealed class HandshakeAdmission<TPeer> : IDisposable
    where TPeer : class
{
    // RFC 6347 §4.2.4.1: a peer that got our flight answers within a round trip, and one that lost it retransmits
    // after a second. Younger handshakes are not evicted, so a burst cannot push out clients still mid-flight.
    private static readonly TimeSpan s_evictableAfter = TimeSpan.FromSeconds(1);

    private readonly Dictionary<TPeer, Entry> _entries = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<SourceNetwork, int> _perNetwork = [];
    private readonly Lock _gate = new();
    private readonly int _maxHandshakes;
    private readonly int _maxPerNetwork;
    private readonly TimeSpan _stallTimeout;
    private readonly TimeProvider _time;
    private readonly LowBandwidthMetrics _metrics;
    private readonly Action<TPeer, string> _end;
    private readonly ITimer _sweeper;

    /// <param name="end">Ends a handshake this table gave up on (stalled or evicted); called outside the table's lock.</param>
    public HandshakeAdmission(LowBandwidthOptions options, TimeProvider time, LowBandwidthMetrics metrics, Action<TPeer, string> end)
    {
        _maxHandshakes = options.MaxConcurrentHandshakes;
        _maxPerNetwork = options.MaxHandshakesPerSourceNetwork;
        _stallTimeout = options.HandshakeStallTimeout;
        _time = time;
        _metrics = metrics;
        _end = end;

        // Often enough that a stalled handshake outlives its timeout by a quarter of it at most.
        var every = TimeSpan.FromTicks(Math.Clamp(_stallTimeout.Ticks / 4, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(1).Ticks));
        _sweeper = time.CreateTimer(_ => Sweep(), null, every, every);
    }

    /// <summary>Handshakes in progress.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Gives <paramref name="peer"/>, from <paramref name="source"/>, a handshake slot if the limits allow, evicting the oldest stalled handshake when all are taken.</summary>
    public HandshakeAdmissionResult TryAdmit(TPeer peer, IPAddress source)
    {
        var network = SourceNetwork.Of(source);
        var now = _time.GetUtcNow();
        TPeer? evicted = null;
        lock (_gate)
        {
            _perNetwork.TryGetValue(network, out var fromNetwork);
            if (fromNetwork >= _maxPerNetwork)
            {
                _metrics.HandshakeDropped("source_network_limit");
                return HandshakeAdmissionResult.NetworkLimit;
            }

            if (_entries.Count >= _maxHandshakes)
            {
                Entry? oldest = null;
                foreach (var entry in _entries.Values)
                {
                    if (!entry.Progressed && now - entry.Started >= s_evictableAfter && (oldest is null || entry.Started < oldest.Started))
                    {
                        oldest = entry;
                    }
                }

                if (oldest is null)
                {
                    _metrics.HandshakeDropped("full");
                    return HandshakeAdmissionResult.Full;
                }

                RemoveLocked(oldest);
                evicted = oldest.Peer;
            }

            _entries.Add(peer, new Entry(peer, network, now));
            _perNetwork[network] = fromNetwork + 1;
        }

        if (evicted is not null)
        {
            _metrics.HandshakeDropped("evicted");
            _end(evicted, "evicted: all handshake slots taken, and it had sent nothing after its ClientHello");
        }

        return HandshakeAdmissionResult.Admitted;
    }

    /// <summary>The peer sent something other than its ClientHello: it is taking part, not stalled.</summary>
    public void Progress(TPeer peer)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(peer, out var entry))
            {
                entry.Progressed = true;
            }
        }
    }

    /// <summary>The handshake ended, whichever way; its slot is free.</summary>
    public void Complete(TPeer peer)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(peer, out var entry))
            {
                RemoveLocked(entry);
            }
        }
    }

    /// <summary>Ends the handshakes whose peers have sent nothing after their ClientHello for the stall timeout.</summary>
    public void Sweep()
    {
        var cutoff = _time.GetUtcNow() - _stallTimeout;
        List<TPeer>? stalled = null;
        lock (_gate)
        {
            foreach (var entry in _entries.Values)
            {
                if (!entry.Progressed && entry.Started <= cutoff)
                {
                    (stalled ??= []).Add(entry.Peer);
                }
            }

            foreach (var peer in stalled ?? [])
            {
                RemoveLocked(_entries[peer]);
            }
        }

        foreach (var peer in stalled ?? [])
        {
            _metrics.HandshakeDropped("stalled");
            _end(peer, "stalled: nothing after its ClientHello");
        }
    }

    public void Dispose() => _sweeper.Dispose();

    private void RemoveLocked(Entry entry)
    {
        _entries.Remove(entry.Peer);
        if (_perNetwork[entry.Network] == 1)
        {
            _perNetwork.Remove(entry.Network);
        }
        else
        {
            _perNetwork[entry.Network]--;
        }
    }

    private sealed class Entry(TPeer peer, SourceNetwork network, DateTimeOffset started)
    {
        public TPeer Peer { get; } = peer;

        public SourceNetwork Network { get; } = network;

        public DateTimeOffset Started { get; } = started;

        public bool Progressed { get; set; }
    }
}

/// <summary>The network a source address counts against: its /24 for IPv4 (also IPv4-mapped IPv6), its /64 for IPv6.</summary>
internal readonly record struct SourceNetwork(ulong Prefix, bool IsIPv6)
{
    public static SourceNetwork Of(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        return address.AddressFamily == AddressFamily.InterNetwork
            ? new SourceNetwork(((ulong)bytes[0] << 16) | ((ulong)bytes[1] << 8) | bytes[2], false)
            : new SourceNetwork(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes), true);
    }
}
