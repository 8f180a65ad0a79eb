using MessengerProxy.Outbound.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Destinations;

/// <summary>
/// Which server names a host serves for. Matrix lets <c>example.org</c> delegate its federation traffic
/// to another host (<c>matrix.example.net:443</c>) through <c>/.well-known/matrix/server</c>; the
/// homeserver then opens tunnels to the delegated host while its requests still name <c>example.org</c>.
/// Delegations are learned from the well-known answers that pass through this proxy (for as long as the
/// homeserver caches them) or configured (for SRV delegation, which the proxy cannot see).
/// </summary>
internal sealed class DelegationTable
{
    private const int MaxLearned = 100_000;

    private readonly Dictionary<string, HashSet<string>> _configured = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Dictionary<string, DateTimeOffset>> _learned = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _lifetime;
    private int _learnedCount;

    public DelegationTable(IOptions<OutboundOptions> options, TimeProvider time)
    {
        _time = time;
        _lifetime = options.Value.DelegationLifetime;
        foreach (var (serverName, host) in options.Value.Delegations)
        {
            if (!_configured.TryGetValue(host, out var names))
            {
                _configured[host] = names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            }

            names.Add(serverName);
        }
    }

    /// <summary>Records that <paramref name="serverName"/> delegates to <paramref name="host"/> (a host without port).</summary>
    public void Learn(string serverName, string host)
    {
        if (string.Equals(serverName, host, StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_learnedCount >= MaxLearned)
            {
                Prune(now);
                if (_learnedCount >= MaxLearned)
                {
                    return;
                }
            }

            if (!_learned.TryGetValue(host, out var names))
            {
                _learned[host] = names = new Dictionary<string, DateTimeOffset>(StringComparer.OrdinalIgnoreCase);
            }

            if (!names.ContainsKey(serverName))
            {
                _learnedCount++;
            }

            names[serverName] = now + _lifetime;
        }
    }

    /// <summary>The server names that currently delegate to <paramref name="host"/>.</summary>
    public IReadOnlyList<string> ServerNamesFor(string host)
    {
        List<string>? result = null;
        if (_configured.TryGetValue(host, out var configured))
        {
            result = [.. configured];
        }

        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_learned.TryGetValue(host, out var learned))
            {
                foreach (var (name, expires) in learned)
                {
                    if (expires > now)
                    {
                        (result ??= []).Add(name);
                    }
                }
            }
        }

        return result ?? (IReadOnlyList<string>)[];
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (host, names) in _learned.ToList())
        {
            foreach (var (name, expires) in names.ToList())
            {
                if (expires <= now)
                {
                    names.Remove(name);
                    _learnedCount--;
                }
            }

            if (names.Count == 0)
            {
                _learned.Remove(host);
            }
        }
    }
}
