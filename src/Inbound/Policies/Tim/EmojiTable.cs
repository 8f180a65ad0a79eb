using System.Collections.Frozen;
using System.Globalization;
using System.Text;

namespace MessengerProxy.Inbound.Policies.Tim;

/// <summary>
/// Every emoji of Unicode Emoji 18.0 (<c>emoji-18.0.txt</c>, the sequences of UTS #51's emoji-test.txt) and the test
/// of a reaction key against it. The runtime segments text into extended grapheme clusters by current Unicode rules
/// (<see cref="StringInfo"/>) but exposes no emoji properties, so the table is embedded; the reference's emoji-java
/// 5.1.1 list of 2019 knew none of the emoji added since.
/// </summary>
internal sealed class EmojiTable
{
    internal const string ResourceName = "MessengerProxy.Inbound.emoji-18.0.txt";

    // VS16 asks for emoji presentation. emoji-test.txt lists some emoji with and some without it (fully-, minimally-
    // and unqualified forms), and clients add it freely (Element sends U+1F44D U+FE0F, which the file lacks), so
    // sequences are compared without it. VS15 (text presentation) is kept: such a key asks not to be an emoji.
    private const char EmojiPresentation = '\uFE0F';

    private readonly FrozenSet<string> _sequences;
    private readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    private EmojiTable(FrozenSet<string> sequences)
    {
        _sequences = sequences;
        _lookup = sequences.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _sequences.Count;

    public static EmojiTable Load()
    {
        using var stream = typeof(EmojiTable).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing");
        using var reader = new StreamReader(stream);
        var sequences = new HashSet<string>(StringComparer.Ordinal);
        var text = new StringBuilder();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            text.Clear();
            foreach (var codePoint in line.Split(' '))
            {
                var value = int.Parse(codePoint, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (value != EmojiPresentation)
                {
                    text.Append(char.ConvertFromUtf32(value));
                }
            }

            sequences.Add(text.ToString());
        }

        return new EmojiTable(sequences.ToFrozenSet(StringComparer.Ordinal));
    }

    /// <summary>The key is exactly one extended grapheme cluster, and that cluster is an emoji.</summary>
    public bool IsSingleEmoji(string key)
    {
        // The longest RGI sequences (family ZWJ sequences with skin tones) are under 40 UTF-16 units.
        if (key.Length is 0 or > 64 || StringInfo.GetNextTextElementLength(key) != key.Length)
        {
            return false;
        }

        if (key.IndexOf(EmojiPresentation) < 0)
        {
            return _lookup.Contains(key);
        }

        Span<char> stripped = stackalloc char[key.Length];
        var n = 0;
        foreach (var c in key)
        {
            if (c != EmojiPresentation)
            {
                stripped[n++] = c;
            }
        }

        return _lookup.Contains(stripped[..n]);
    }
}
