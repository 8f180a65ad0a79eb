using System.Net.Security;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Diagnostics;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Certificates;

/// <summary>
/// Certificates for hosts outside the federation, minted only so the homeserver can read a refusal inside the
/// tunnel. Any name the homeserver asks for gets one (the SAN must match it, or the refusal cannot be read), so
/// their cost is bounded twice: a cache of their own, which made-up names cannot use to push the federation
/// peers' certificates out, and a token bucket of mints per period. Cached certificates cost no token.
/// </summary>
internal sealed class UnlistedHostCertificates : IDisposable, IAsyncDisposable
{
    private readonly LeafCertificateCache _cache;
    private readonly Func<bool> _takeToken;
    private readonly TimeProvider _time;
    private readonly double _capacity;
    private readonly double _tokensPerSecond;
    private readonly Lock _gate = new();
    private double _tokens;
    private long _refilledAt;

    public UnlistedHostCertificates(CertificateAuthority authority, IOptions<OutboundOptions> options, TimeProvider time, OutboundMetrics metrics)
    {
        var settings = options.Value;
        _cache = new LeafCertificateCache(authority, settings.LeafValidity, settings.MaxCachedUnlistedCertificates, time, metrics);
        _time = time;
        _capacity = settings.UnlistedCertificateMints;
        _tokensPerSecond = settings.UnlistedCertificateMints / settings.UnlistedCertificateMintPeriod.TotalSeconds;
        _tokens = _capacity;
        _refilledAt = time.GetTimestamp();
        _takeToken = TakeToken;
    }

    /// <summary>
    /// Makes sure a certificate for <paramref name="host"/> is cached or being minted; false when that would
    /// take a mint beyond the budget (the host is then refused at the CONNECT instead).
    /// </summary>
    public bool TryPrepare(string host) => _cache.Prefetch(host, _takeToken);

    /// <summary>
    /// The certificate prepared by <see cref="TryPrepare"/>. It would be minted again without a token only if
    /// evicted in between, which takes more new hosts within one handshake than the cache holds.
    /// </summary>
    public SslStreamCertificateContext Get(string host) => _cache.Get(host);

    public void Dispose() => _cache.Dispose();

    public ValueTask DisposeAsync() => _cache.DisposeAsync();

    // Called by the cache, under its lock, only when a certificate has to be minted.
    private bool TakeToken()
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            _tokens = Math.Min(_capacity, _tokens + (_time.GetElapsedTime(_refilledAt, now).TotalSeconds * _tokensPerSecond));
            _refilledAt = now;
            if (_tokens < 1)
            {
                return false;
            }

            _tokens -= 1;
            return true;
        }
    }
}
