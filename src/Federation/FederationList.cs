using System.Collections.Frozen;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Federation;

/// <summary>
/// An immutable version of the federation list. Look-ups are O(1), case-insensitive and allocation-free
/// (on spans); a new version is built aside and swapped in with one reference assignment.
/// </summary>
internal sealed class FederationList
{
    private readonly FrozenDictionary<string, FederationDomain> _entries;
    private readonly FrozenDictionary<string, FederationDomain>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly FrozenDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _insurerByIk;

    private FederationList(FederationList other)
    {
        Version = other.Version;
        _entries = other._entries;
        _lookup = other._lookup;
        _insurerByIk = other._insurerByIk;
    }

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
        _insurerByIk = BuildIkIndex(map.Values).GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public long Version { get; }

    /// <summary>Verified from the VZD's signature (then <see cref="Version"/> is the VZD's), not a plain JSON list.</summary>
    public bool IsSigned { get; private init; }

    /// <summary>This list, marked as verified from a signature (also when read back from the persisted copy).</summary>
    public FederationList Signed() => IsSigned ? this : new FederationList(this) { IsSigned = true };

    public int Count => _entries.Count;

    public IEnumerable<FederationDomain> Entries => _entries.Values;

    /// <summary>IK numbers of insurances in the list (the index the TI-M information API answers from).</summary>
    public int IkCount => _insurerByIk.Dictionary.Count;

    public bool Contains(ReadOnlySpan<char> domain) => _lookup.ContainsKey(domain);

    /// <summary>The entry of a domain (case-insensitive), allocation-free.</summary>
    public bool TryGetEntry(ReadOnlySpan<char> domain, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out FederationDomain? entry) =>
        _lookup.TryGetValue(domain, out entry);

    /// <summary>The domain of the insurance an IK number (Institutionskennzeichen) belongs to, allocation-free.</summary>
    public bool TryFindInsurerByIk(ReadOnlySpan<char> ik, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? domain) =>
        _insurerByIk.TryGetValue(ik, out domain);

    // Built once per list version, like the domain set. Only insurances: an IK names a health insurance, and a
    // non-insurance entry claiming one must not be able to shadow it. IKs are digits, compared ordinally; when
    // two insurances claim one IK the first in the list keeps it, as in the reference.
    private static FrozenDictionary<string, string> BuildIkIndex(IEnumerable<FederationDomain> entries)
    {
        var index = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (!entry.IsInsurance)
            {
                continue;
            }

            foreach (var ik in entry.Ik)
            {
                if (!string.IsNullOrWhiteSpace(ik))
                {
                    index.TryAdd(ik.Trim(), entry.Domain);
                }
            }
        }

        return index.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The entry of a domain (e.g. for its <c>isInsurance</c>), or null when it is not listed.</summary>
    public FederationDomain? Find(ReadOnlySpan<char> domain) => _lookup.TryGetValue(domain, out var entry) ? entry : null;
}
