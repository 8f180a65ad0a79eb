using MessengerProxy.LowBandwidth.Coap;

namespace MessengerProxy.LowBandwidth.Association;

/// <summary>A whole response kept for the blocks that follow the first (RFC 7959 §2.4).</summary>
internal sealed record CachedBody(byte Code, ushort? ContentFormat, byte[] Payload, DateTimeOffset Expires);

/// <summary>
/// An association's answers too large for one message, kept whole under the shared <see cref="BodyBudget"/> so
/// their later Block2 blocks come from here, not from the homeserver again (RFC 7959 §2.4).
/// </summary>
internal sealed class Block2Cache
{
    private const int MaxCachedBodies = 4;

    private static readonly TimeSpan s_bodyLifetime = TimeSpan.FromMinutes(2);

    private readonly Dictionary<string, BufferedAnswer> _bodies = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly BodyBudget _budget;

    public Block2Cache(BodyBudget budget) => _budget = budget;

    /// <summary>A later block (number &gt; 0) of an answer kept under <paramref name="key"/>; null when there is none to serve it from.</summary>
    public CoapResponse? TryServe(string key, CoapBlock? requested, DateTimeOffset now) =>
        requested is { Number: > 0 } block && Find(key, now) is { } cached ? Slice(cached, block) : null;

    /// <summary>
    /// Frames an answer for the client: as it is when it fits one block and no block was asked for, otherwise
    /// kept under <paramref name="key"/> and sliced to the block asked for (or the first) at the smaller of the
    /// client's and our block size. Null when it would not fit in the whole <see cref="BodyBudget"/>.
    /// </summary>
    public CoapResponse? Respond(CoapResponse response, string key, CoapBlock? requested, int maxExponent, DateTimeOffset now)
    {
        var exponent = Math.Min(maxExponent, requested?.SizeExponent ?? maxExponent);
        if (response.Payload.Length <= 16 << exponent && requested is null)
        {
            return response;
        }

        var whole = new CachedBody(response.Code, response.ContentFormat, response.Payload.ToArray(), now + s_bodyLifetime);
        return Cache(key, whole, now) ? Slice(whole, new CoapBlock(requested?.Number ?? 0, false, exponent)) : null;
    }

    /// <summary>Keeps a whole answer for its later blocks; false when it would not fit in the whole <see cref="BodyBudget"/>.</summary>
    public bool Cache(string key, CachedBody body, DateTimeOffset now)
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

    public CachedBody? Find(string key, DateTimeOffset now)
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

    /// <summary>Frees every kept answer: the association is gone.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            foreach (var body in _bodies.Values)
            {
                _budget.Release(body);
            }

            _bodies.Clear();
        }
    }

    private static CoapResponse Slice(CachedBody body, CoapBlock requested)
    {
        var offset = requested.Offset;
        if (offset >= body.Payload.Length && !(offset == 0 && body.Payload.Length == 0))
        {
            return new CoapResponse(CoapCodes.BadOption);
        }

        var length = (int)Math.Min(requested.Size, body.Payload.Length - offset);
        var more = offset + length < body.Payload.Length;
        var response = new CoapResponse(body.Code) { Payload = body.Payload.AsMemory((int)offset, length) };
        if (body.ContentFormat is { } format)
        {
            response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, format));
        }

        response.Options.Add(new CoapBlock(requested.Number, more, requested.SizeExponent).ToOption(CoapOptionNumbers.Block2));
        if (requested.Number == 0)
        {
            response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.Size2, (uint)body.Payload.Length));
        }

        return response;
    }
}
