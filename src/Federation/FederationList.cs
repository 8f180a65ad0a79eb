using System.Collections.Frozen;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Federation;

/// <summary>
/// An immutable version of the federation list. Look-ups are O(1), case-insensitive and allocation-free
/// (on spans); a new version is built aside and swapped in with one reference assignment.
/// </summary>
public sealed class FederationList
{
    private readonly FrozenDictionary<string, FederationDomain> _entries;
    private readonly FrozenDictionary<string, FederationDomain>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public FederationList(long version, IEnumerable<FederationDomain> entries)
    {
        Version = version;
        var map = new Dictionary<string, FederationDomain>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in entries)
        {
            map[entry.Domain] = entry;
        }

        _entries = map.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _lookup = _entries.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public long Version { get; }

    public int Count => _entries.Count;

    public IEnumerable<FederationDomain> Entries => _entries.Values;

    public bool Contains(ReadOnlySpan<char> domain) => _lookup.ContainsKey(domain);
}
