using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Diagnostics;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Certificates;

/// <summary>
/// Leaf certificates per host, minted on first contact and reused until half their validity has passed.
/// Concurrent first contacts mint once; the cache is bounded, dropping the least recently used hosts.
/// </summary>
internal sealed class LeafCertificateCache : IDisposable, IAsyncDisposable
{
    private readonly CertificateAuthority _authority;
    private readonly TimeProvider _time;
    private readonly TimeSpan _validity;
    private readonly int _capacity;
    private readonly OutboundMetrics _metrics;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _gate = new();

    // Background mints still running: shutdown waits for them before the CA they sign with is disposed.
    private readonly HashSet<Task> _prefetches = [];

    public LeafCertificateCache(CertificateAuthority authority, IOptions<OutboundOptions> options, TimeProvider time, OutboundMetrics metrics)
        : this(authority, options.Value.LeafValidity, options.Value.MaxCachedCertificates, time, metrics)
    {
    }

    internal LeafCertificateCache(CertificateAuthority authority, TimeSpan validity, int capacity, TimeProvider time, OutboundMetrics metrics)
    {
        _authority = authority;
        _time = time;
        _validity = validity;
        _capacity = capacity;
        _metrics = metrics;
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

    /// <summary>The certificate context (leaf plus our CA) to present for <paramref name="host"/>.</summary>
    public SslStreamCertificateContext Get(string host)
    {
        Entry entry;
        lock (_gate)
        {
            entry = EntryFor(host, mayMint: null)!;
        }

        return Evaluate(host, entry);
    }

    /// <summary>
    /// Makes sure <paramref name="host"/> has a certificate, minting it in the background if needed, so the
    /// work overlaps the round trip in which the client reads the 200 and sends its ClientHello.
    /// </summary>
    /// <param name="mayMint">Asked, under the cache's lock, before a certificate is minted; false refuses the mint.</param>
    /// <returns>False when a mint was needed and <paramref name="mayMint"/> refused it.</returns>
    public bool Prefetch(string host, Func<bool>? mayMint = null)
    {
        Entry? entry;
        lock (_gate)
        {
            entry = EntryFor(host, mayMint);
        }

        if (entry is null)
        {
            return false;
        }

        if (!entry.Leaf.IsValueCreated)
        {
            // Registered before it starts, so its removal cannot run first.
            var mint = new Task(static state =>
            {
                var (cache, host, entry) = ((LeafCertificateCache, string, Entry))state!;
                try
                {
                    cache.Evaluate(host, entry);
                }
                catch (Exception)
                {
                    // Only a head start: the handshake's own Get mints again and fails where it is handled.
                }
            }, (this, host, entry), TaskCreationOptions.DenyChildAttach);
            lock (_gate)
            {
                _prefetches.Add(mint);
            }

            mint.ContinueWith(static (done, state) =>
            {
                var cache = (LeafCertificateCache)state!;
                lock (cache._gate)
                {
                    cache._prefetches.Remove(done);
                }
            }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            mint.Start(TaskScheduler.Default);
        }

        return true;
    }

    // Under the lock. The entry is in the cache before its certificate is minted, so concurrent first
    // contacts share one mint and a prefetched host counts as held at once.
    private Entry? EntryFor(string host, Func<bool>? mayMint)
    {
        var now = _time.GetUtcNow();
        if (!_entries.TryGetValue(host, out var entry) || now >= entry.RenewAt)
        {
            if (mayMint is not null && !mayMint())
            {
                return null;
            }

            // Used now, before eviction runs, so the least recently used make room rather than this one.
            entry = new Entry(new Lazy<Leaf>(() => Mint(host), LazyThreadSafetyMode.ExecutionAndPublication)) { LastUsed = now };
            _entries[host] = entry;
            if (_entries.Count > _capacity)
            {
                Evict();
            }
        }

        entry.LastUsed = now;
        return entry;
    }

    private SslStreamCertificateContext Evaluate(string host, Entry entry)
    {
        Leaf leaf;
        try
        {
            leaf = entry.Leaf.Value;
        }
        catch
        {
            // The Lazy keeps its exception: drop the entry, so the next contact mints again instead of failing forever.
            lock (_gate)
            {
                if (_entries.TryGetValue(host, out var current) && ReferenceEquals(current, entry))
                {
                    _entries.Remove(host);
                }
            }

            throw;
        }

        entry.RenewAt = leaf.RenewAt;
        return leaf.Context;
    }

    private Leaf Mint(string host)
    {
        var started = _time.GetTimestamp();
        var now = _time.GetUtcNow();
        var certificate = _authority.Issue(host, now, _validity);
        var context = SslStreamCertificateContext.Create(certificate, [_authority.Certificate], offline: true);
        _metrics.CertificateMinted(_time.GetElapsedTime(started).TotalSeconds);
        var lifetime = new DateTimeOffset(certificate.NotAfter.ToUniversalTime()) - now;
        return new Leaf(context, now + lifetime / 2);
    }

    // Runs under the lock when the cache is over capacity; dropping a tenth at once keeps this rare.
    private void Evict()
    {
        var excess = _entries.Count - _capacity + Math.Max(1, _capacity / 10);
        foreach (var host in _entries.OrderBy(e => e.Value.LastUsed).Take(excess).Select(e => e.Key).ToList())
        {
            _entries.Remove(host);
        }
    }

    /// <summary>Waits for background mints (CPU work of milliseconds), then empties the cache.</summary>
    public void Dispose()
    {
        Task.WaitAll(PendingPrefetches());
        Clear();
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(PendingPrefetches());
        Clear();
    }

    private Task[] PendingPrefetches()
    {
        lock (_gate)
        {
            return [.. _prefetches];
        }
    }

    private void Clear()
    {
        lock (_gate)
        {
            _entries.Clear();
        }
    }

    private sealed class Entry(Lazy<Leaf> leaf)
    {
        public Lazy<Leaf> Leaf { get; } = leaf;

        public DateTimeOffset LastUsed { get; set; }

        public DateTimeOffset RenewAt { get; set; } = DateTimeOffset.MaxValue;
    }

    private sealed record Leaf(SslStreamCertificateContext Context, DateTimeOffset RenewAt);
}
