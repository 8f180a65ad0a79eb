using System.Collections.Frozen;
using System.Globalization;

namespace MessengerProxy.LowBandwidth.Cbor;

/// <summary>
/// The MSC3079 integer shorthands for common JSON keys (<c>cbor-keys-v1.tsv</c>, embedded). Versions only
/// add keys, so the table of version N holds every row whose version is at most N.
/// </summary>
internal sealed class CborKeyTable
{
    internal const string ResourceName = "MessengerProxy.LowBandwidth.cbor-keys-v1.tsv";

    private readonly FrozenDictionary<string, int> _byName;
    private readonly FrozenDictionary<int, string> _byInteger;

    private CborKeyTable(int version, Dictionary<string, int> byName)
    {
        Version = version;
        _byName = byName.ToFrozenDictionary(StringComparer.Ordinal);
        _byInteger = byName.ToFrozenDictionary(p => p.Value, p => p.Key);
        NameLookup = _byName.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Version 1, the only one defined so far.</summary>
    public static CborKeyTable V1 { get; } = Load(1);

    public int Version { get; }

    public int Count => _byName.Count;

    internal FrozenDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> NameLookup { get; }

    public bool TryGetInteger(string name, out int value) => _byName.TryGetValue(name, out value);

    public bool TryGetName(long value, out string name)
    {
        name = string.Empty;
        return value is > 0 and <= int.MaxValue && _byInteger.TryGetValue((int)value, out name!);
    }

    private static CborKeyTable Load(int version)
    {
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        var seen = new HashSet<int>();
        foreach (var row in VersionedTable.Rows(ResourceName, ["version", "integer", "key"], version))
        {
            var integer = int.Parse(row[0], CultureInfo.InvariantCulture);
            if (!seen.Add(integer) || !byName.TryAdd(row[1], integer))
            {
                throw new FormatException($"{ResourceName}: {row[1]} = {integer} is defined twice");
            }
        }

        return new CborKeyTable(version, byName);
    }
}
