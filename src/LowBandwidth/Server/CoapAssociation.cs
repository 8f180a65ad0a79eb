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
    private readonly Dictionary<string, BufferedAnswer> _bodies = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BufferedUpload> _uploads = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ObserveRegistration> _observations = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly BodyBudget _budget;
    private int _nextMessageId = RandomNumberGenerator.GetInt32(ushort.MaxValue + 1);
    private int _requestsInFlight;

    /// <param name="budget">Holds the memory of this association's uploads and kept answers, shared with every other association.</param>
    public CoapAssociation(IPEndPoint peer, IDatagramSink sink, DateTimeOffset now, BodyBudget budget)
    {
        _budget = budget;
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

    /// <summary>Keeps a whole answer for its later blocks; false when it would not fit in the whole <see cref="BodyBudget"/>.</summary>
    public bool CacheBody(string key, CachedBody body, DateTimeOffset now)
    {
        if (_budget.Keep(body) is not { } kept)
        {
            return false;
        }

        lock (_gate)
        {
            foreach (var (staleKey, stale) in _bodies.Where(b => !_budget.IsLive(b.Value, now)).ToList())
            {
                _bodies.Remove(staleKey);
                _budget.Release(stale);
            }

            if (_bodies.Remove(key, out var replaced))
            {
                _budget.Release(replaced);
            }
            else if (_bodies.Count >= MaxCachedBodies)
            {
                var (oldestKey, oldest) = _bodies.MinBy(b => b.Value.Expires);
                _bodies.Remove(oldestKey);
                _budget.Release(oldest);
            }

            _bodies[key] = kept;
        }

        return true;
    }

    public CachedBody? FindBody(string key, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (!_bodies.TryGetValue(key, out var kept))
            {
                return null;
            }

            // Gone when it expired or the budget needed its memory for newer bodies.
            var body = _budget.Read(kept, now);
            if (body is null)
            {
                _bodies.Remove(key);
            }

            return body;
        }
    }

    /// <summary>Appends a Block1 block (block 0 starts the upload afresh); anything but <see cref="UploadStep.Appended"/> ends the upload.</summary>
    public UploadStep Upload(string key, uint number, ReadOnlySpan<byte> block, int blockSize)
    {
        lock (_gate)
        {
            if (number == 0)
            {
                // A client uploads one body at a time; a few more in parallel is generous, more is an attack on memory.
                if (_uploads.Remove(key, out var restarted))
                {
                    _budget.Release(restarted);
                }
                else if (_uploads.Count >= MaxUploads)
                {
                    var (firstKey, first) = _uploads.First();
                    _uploads.Remove(firstKey);
                    _budget.Release(first);
                }

                _uploads[key] = _budget.StartUpload();
            }

            if (!_uploads.TryGetValue(key, out var upload))
            {
                return UploadStep.OutOfOrder;
            }

            var step = _budget.Append(upload, (long)number * blockSize, block);
            if (step != UploadStep.Appended)
            {
                _uploads.Remove(key);
            }

            return step;
        }
    }

    /// <summary>The assembled body of a finished upload, which ends it; null when it was dropped meanwhile.</summary>
    public byte[]? TakeUpload(string key)
    {
        lock (_gate)
        {
            return _uploads.Remove(key, out var upload) ? _budget.Take(upload) : null;
        }
    }

    public void EndUpload(string key)
    {
        lock (_gate)
        {
            if (_uploads.Remove(key, out var upload))
            {
                _budget.Release(upload);
            }
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
            foreach (var body in _bodies.Values)
            {
                _budget.Release(body);
            }

            foreach (var upload in _uploads.Values)
            {
                _budget.Release(upload);
            }

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
