namespace MessengerProxy.Inbound.Homeserver;

/// <summary>
/// A small cache with a real time-to-live (measured with the injected <see cref="TimeProvider"/>) and a bound on
/// its entries. When full, expired entries go first, then the ones closest to expiry: an entry is at worst looked
/// up again, never kept past its TTL.
/// </summary>
internal sealed class BoundedTtlCache<TKey, TValue>
    where TKey : notnull
{
    private readonly Dictionary<TKey, (TValue Value, DateTimeOffset Expires)> _entries;
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _ttl;
    private readonly int _capacity;

    public BoundedTtlCache(TimeProvider time, TimeSpan ttl, int capacity, IEqualityComparer<TKey>? comparer = null)
    {
        _time = time;
        _ttl = ttl;
        _capacity = capacity;
        _entries = new Dictionary<TKey, (TValue, DateTimeOffset)>(comparer);
    }

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

    public bool TryGet(TKey key, out TValue value)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var entry))
            {
                if (entry.Expires > _time.GetUtcNow())
                {
                    value = entry.Value;
                    return true;
                }

                _entries.Remove(key);
            }
        }

        value = default!;
        return false;
    }

    public void Set(TKey key, TValue value)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_entries.Count >= _capacity && !_entries.ContainsKey(key))
            {
                MakeRoom(now);
            }

            _entries[key] = (value, now + _ttl);
        }
    }

    public void Remove(TKey key)
    {
        lock (_gate)
        {
            _entries.Remove(key);
        }
    }

    /// <summary>Removes every entry whose value matches (rare: logout of all devices).</summary>
    public void RemoveWhere(Func<TValue, bool> match)
    {
        lock (_gate)
        {
            foreach (var (key, entry) in _entries.ToList())
            {
                if (match(entry.Value))
                {
                    _entries.Remove(key);
                }
            }
        }
    }

    // Called under the lock with the cache full: a sweep costs O(n) once per n/10 insertions at most.
    private void MakeRoom(DateTimeOffset now)
    {
        foreach (var (key, entry) in _entries.ToList())
        {
            if (entry.Expires <= now)
            {
                _entries.Remove(key);
            }
        }

        if (_entries.Count < _capacity)
        {
            return;
        }

        var drop = Math.Max(1, _capacity / 10);
        foreach (var (key, _) in _entries.OrderBy(e => e.Value.Expires).Take(drop).ToList())
        {
            _entries.Remove(key);
        }
    }
}
