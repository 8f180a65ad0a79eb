using System.Net;
using System.Security.Cryptography;

namespace MessengerProxy.LowBandwidth.Server;

/// <summary>Sends datagrams to one peer, over DTLS or plain UDP.</summary>
internal interface IDatagramSink
{
    ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken);
}

/// <summary>A whole response kept for the blocks that follow the first (RFC 7959 §2.4).</summary>
internal sealed record CachedBody(byte Code, ushort? ContentFormat, byte[] Payload, DateTimeOffset Expires);

/// <summary>
/// One client association (a DTLS association, or a UDP peer in plain mode) and everything MSC3079 makes
/// sticky for it: the access token and the CBOR key version. Also its CoAP message layer state:
/// replies by message ID for deduplication, our confirmable messages awaiting ACK, blockwise transfers.
/// </summary>
internal sealed class CoapAssociation
{
    private const int MaxExchanges = 512;
    private const int MaxCachedBodies = 4;
    private const int MaxUploads = 2;
    private const int MaxObservations = 4;

    private readonly Dictionary<ushort, Exchange> _exchanges = [];
    private readonly Dictionary<ushort, TaskCompletionSource<bool>> _awaitingAck = [];
    private readonly Dictionary<string, CachedBody> _bodies = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MemoryStream> _uploads = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ObserveRegistration> _observations = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private int _nextMessageId = RandomNumberGenerator.GetInt32(ushort.MaxValue + 1);
    private int _requestsInFlight;

    public CoapAssociation(IPEndPoint peer, IDatagramSink sink, DateTimeOffset now)
    {
        Peer = peer;
        Sink = sink;
        LastActivity = now;
    }

    /// <summary>The peer's current address (it may change with a DTLS Connection ID).</summary>
    public IPEndPoint Peer { get; set; }

    public IDatagramSink Sink { get; }

    public DateTimeOffset LastActivity { get; set; }

    /// <summary>MSC3079 option 256, remembered for the association.</summary>
    public string? AccessToken { get; set; }

    /// <summary>MSC3079 option 257 (or integer keys seen in a body): the key table version for answers; 0 = text keys.</summary>
    public int CborVersion { get; set; }

    public ushort NextMessageId() => (ushort)Interlocked.Increment(ref _nextMessageId);

    /// <summary>Takes one of the association's request slots; false when all are busy.</summary>
    public bool TryStartRequest(int limit)
    {
        if (Interlocked.Increment(ref _requestsInFlight) <= limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _requestsInFlight);
        return false;
    }

    public void EndRequest() => Interlocked.Decrement(ref _requestsInFlight);

    /// <summary>Registers a new exchange; false (with the reply so far, if any) when the message ID is a duplicate.</summary>
    public bool TryBegin(ushort messageId, DateTimeOffset now, TimeSpan lifetime, out byte[]? previousReply)
    {
        lock (_gate)
        {
            if (_exchanges.TryGetValue(messageId, out var existing) && existing.Expires > now)
            {
                previousReply = existing.Reply;
                return false;
            }

            if (_exchanges.Count >= MaxExchanges)
            {
                foreach (var (id, exchange) in _exchanges.Where(e => e.Value.Expires <= now).ToList())
                {
                    _exchanges.Remove(id);
                }

                if (_exchanges.Count >= MaxExchanges)
                {
                    // Still full of live exchanges: forget the oldest rather than refuse new requests.
                    _exchanges.Remove(_exchanges.MinBy(e => e.Value.Expires).Key);
                }
            }

            _exchanges[messageId] = new Exchange(now + lifetime);
            previousReply = null;
            return true;
        }
    }

    /// <summary>Remembers what was answered to a message ID, so a retransmission gets the same answer.</summary>
    public void Remember(ushort messageId, byte[] reply)
    {
        lock (_gate)
        {
            if (_exchanges.TryGetValue(messageId, out var exchange))
            {
                exchange.Reply = reply;
            }
        }
    }

    public Task<bool> ExpectAck(ushort messageId)
    {
        var completion = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _awaitingAck[messageId] = completion;
        }

        return completion.Task;
    }

    public void ForgetAck(ushort messageId)
    {
        lock (_gate)
        {
            _awaitingAck.Remove(messageId);
        }
    }

    /// <summary>An ACK (true) or RST (false) for one of our confirmable messages.</summary>
    public bool CompleteOutgoing(ushort messageId, bool acknowledged)
    {
        TaskCompletionSource<bool>? completion;
        lock (_gate)
        {
            if (_awaitingAck.Remove(messageId, out completion))
            {
                completion.TrySetResult(acknowledged);
                return true;
            }
        }

        return false;
    }

    public void CacheBody(string key, CachedBody body, DateTimeOffset now)
    {
        lock (_gate)
        {
            foreach (var stale in _bodies.Where(b => b.Value.Expires <= now).Select(b => b.Key).ToList())
            {
                _bodies.Remove(stale);
            }

            if (_bodies.Count >= MaxCachedBodies && !_bodies.ContainsKey(key))
            {
                _bodies.Remove(_bodies.MinBy(b => b.Value.Expires).Key);
            }

            _bodies[key] = body;
        }
    }

    public CachedBody? FindBody(string key, DateTimeOffset now)
    {
        lock (_gate)
        {
            return _bodies.TryGetValue(key, out var body) && body.Expires > now ? body : null;
        }
    }

    /// <summary>Appends a Block1 block; null when it is out of order (the client must start again).</summary>
    public MemoryStream? Upload(string key, uint number, ReadOnlySpan<byte> block, int blockSize)
    {
        lock (_gate)
        {
            if (number == 0)
            {
                // A client uploads one body at a time; a few more in parallel is generous, more is an attack on memory.
                if (!_uploads.ContainsKey(key) && _uploads.Count >= MaxUploads)
                {
                    _uploads.Remove(_uploads.Keys.First());
                }

                _uploads[key] = new MemoryStream();
            }

            if (!_uploads.TryGetValue(key, out var upload) || upload.Length != (long)number * blockSize)
            {
                _uploads.Remove(key);
                return null;
            }

            upload.Write(block);
            return upload;
        }
    }

    public void EndUpload(string key)
    {
        lock (_gate)
        {
            _uploads.Remove(key);
        }
    }

    /// <summary>Starts an observation under <paramref name="key"/>, ending the one it replaces (a re-registration).</summary>
    public ObserveRegistration Observe(string key, CancellationToken outer)
    {
        var registration = new ObserveRegistration(outer);
        ObserveRegistration? previous;
        lock (_gate)
        {
            _observations.Remove(key, out previous);
            if (_observations.Count >= MaxObservations)
            {
                var oldest = _observations.First();
                _observations.Remove(oldest.Key);
                oldest.Value.Cancel();
            }

            _observations[key] = registration;
        }

        previous?.Cancel();
        return registration;
    }

    /// <summary>Ends the observation under <paramref name="key"/> (only <paramref name="registration"/>, when given).</summary>
    public void StopObserving(string key, ObserveRegistration? registration)
    {
        ObserveRegistration? removed = null;
        lock (_gate)
        {
            if (_observations.TryGetValue(key, out var current) && (registration is null || ReferenceEquals(current, registration)))
            {
                _observations.Remove(key);
                removed = current;
            }
        }

        removed?.Cancel();
        if (registration is not null && !ReferenceEquals(removed, registration))
        {
            registration.Cancel();
        }
    }

    /// <summary>Fails every confirmable message still waiting and ends observations, when the association goes away.</summary>
    public void Close()
    {
        lock (_gate)
        {
            foreach (var observation in _observations.Values)
            {
                observation.Cancel();
            }

            _observations.Clear();
            foreach (var completion in _awaitingAck.Values)
            {
                completion.TrySetResult(false);
            }

            _awaitingAck.Clear();
            _bodies.Clear();
            _uploads.Clear();
        }
    }

    private sealed class Exchange(DateTimeOffset expires)
    {
        public DateTimeOffset Expires { get; } = expires;

        public byte[]? Reply { get; set; }
    }
}
