namespace MessengerProxy.LowBandwidth.Association;

/// <summary>
/// Message deduplication (RFC 7252 §4.5): the message IDs of an association's requests for EXCHANGE_LIFETIME,
/// each with the reply it got, so a retransmission gets the same reply again (or nothing while the first is
/// still being worked on) instead of being handled twice.
/// </summary>
internal sealed class ExchangeCache
{
    // RFC 7252 §4.8.2 with the default transmission parameters.
    public static readonly TimeSpan ExchangeLifetime = TimeSpan.FromSeconds(247);

    private const int MaxExchanges = 512;

    private readonly Dictionary<ushort, Exchange> _exchanges = [];
    private readonly Lock _gate = new();

    /// <summary>Registers a new exchange; false (with the reply so far, if any) when the message ID is a duplicate.</summary>
    public bool TryBegin(ushort messageId, DateTimeOffset now, out byte[]? previousReply)
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

            _exchanges[messageId] = new Exchange(now + ExchangeLifetime);
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

    private sealed class Exchange(DateTimeOffset expires)
    {
        public DateTimeOffset Expires { get; } = expires;

        public byte[]? Reply { get; set; }
    }
}
