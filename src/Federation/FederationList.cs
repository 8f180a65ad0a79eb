using System.Collections.Frozen;

namespace MessengerProxy.Federation;

/// <summary>One entry of the list as the proxy keeps it.</summary>
public sealed record FederationListEntry(string Domain, string TelematikId, bool IsInsurance, IReadOnlyList<string> Ik);

/// <summary>
/// An immutable version of the federation list. Look-ups are O(1), case-insensitive and allocation-free
/// (on spans); a new version is built aside and swapped in with one reference assignment.
/// </summary>
public sealed class FederationList
{
    private readonly FrozenDictionary<string, FederationListEntry> _entries;
    private readonly FrozenDictionary<string, FederationListEntry>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public FederationList(long version, IEnumerable<FederationListEntry> entries)
    {
        Version = version;
        var map = new Dictionary<string, FederationListEntry>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in entries)
        {
            map[entry.Domain] = entry;
        }

        _entries = map.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _lookup = _entries.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public long Version { get; }

    public int Count => _entries.Count;

    public IEnumerable<FederationListEntry> Entries => _entries.Values;

    public bool Contains(ReadOnlySpan<char> domain) => _lookup.ContainsKey(domain);

    /// <summary>The entry of a domain (e.g. for its <c>isInsurance</c>), or null when it is not listed.</summary>
    public FederationListEntry? Find(ReadOnlySpan<char> domain) => _lookup.TryGetValue(domain, out var entry) ? entry : null;
}
