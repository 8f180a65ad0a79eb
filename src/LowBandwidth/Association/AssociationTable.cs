using System.Collections.Concurrent;
using MessengerProxy.LowBandwidth.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Association;

/// <summary>The live associations of one transport, bounded in number and forgotten after being idle.</summary>
internal sealed class AssociationTable<TKey>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, CoapAssociation> _associations = new();
    private readonly LowBandwidthOptions _options;
    private readonly TimeProvider _time;
    private readonly Action<TKey>? _swept;

    /// <param name="swept">Told about each association the table forgets for being idle (also when a full table sweeps in <see cref="TryAdd"/>), so the transport can end it.</param>
    public AssociationTable(IOptions<LowBandwidthOptions> options, TimeProvider time, Action<TKey>? swept = null)
    {
        _options = options.Value;
        _time = time;
        _swept = swept;
    }

    public int Count => _associations.Count;

    public bool TryGet(TKey key, out CoapAssociation association) => _associations.TryGetValue(key, out association!);

    /// <summary>Adds an association unless the limit is reached.</summary>
    public bool TryAdd(TKey key, CoapAssociation association)
    {
        if (_associations.Count >= _options.MaxAssociations)
        {
            Sweep();
            if (_associations.Count >= _options.MaxAssociations)
            {
                return false;
            }
        }

        return _associations.TryAdd(key, association);
    }

    public void Remove(TKey key)
    {
        if (_associations.TryRemove(key, out var association))
        {
            association.Close();
        }
    }

    /// <summary>Forgets associations idle for longer than the idle timeout; returns their keys.</summary>
    public List<TKey> Sweep()
    {
        var cutoff = _time.GetUtcNow() - _options.IdleTimeout;
        var removed = new List<TKey>();
        foreach (var (key, association) in _associations)
        {
            if (association.LastActivity < cutoff && _associations.TryRemove(key, out _))
            {
                association.Close();
                removed.Add(key);
                _swept?.Invoke(key);
            }
        }

        return removed;
    }
}
