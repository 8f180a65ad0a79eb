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
public sealed class LeafCertificateCache : IDisposable
{
    private readonly CertificateAuthority _authority;
    private readonly TimeProvider _time;
    private readonly TimeSpan _validity;
    private readonly int _capacity;
    private readonly OutboundMetrics _metrics;
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _gate = new();

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
        var now = _time.GetUtcNow();
        Entry entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(host, out entry!) || now >= entry.RenewAt)
            {
                entry = new Entry(new Lazy<Leaf>(() => Mint(host), LazyThreadSafetyMode.ExecutionAndPublication)) { LastUsed = now };
                _entries[host] = entry;
                if (_entries.Count > _capacity)
                {
                    Evict();
                }
            }

            entry.LastUsed = now;
        }

        var leaf = entry.Leaf.Value;
        entry.RenewAt = leaf.RenewAt;
        return leaf.Context;
    }

    /// <summary>Whether <see cref="Get"/> would answer from the cache (minted or being minted, not due for renewal).</summary>
    public bool Holds(string host)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(host, out var entry) && _time.GetUtcNow() < entry.RenewAt;
        }
    }

    /// <summary>
    /// Starts minting for <paramref name="host"/> in the background if it has no certificate yet, so the work
    /// overlaps the round trip in which the client reads the 200 and sends its ClientHello.
    /// </summary>
    public void Prefetch(string host)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(host, out var entry) && _time.GetUtcNow() < entry.RenewAt && entry.Leaf.IsValueCreated)
            {
                return;
            }
        }

        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Cache.Get(state.Host), (Cache: this, Host: host), preferLocal: false);
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

    public void Dispose()
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
