using System.Buffers;
using System.Text;
using System.Text.Json;

namespace MessengerProxy.Policy.Federation;

/// <summary>
/// Matrix canonical JSON (spec appendix "Canonical JSON"): no insignificant whitespace, object members sorted by
/// the code points of their names, UTF-8 without escapes except <c>"</c>, <c>\</c> and the controls (short forms
/// where JSON has them, else <c>\u00xx</c> in lower-case hex), integers without exponent or fraction
/// (<c>-0</c> → <c>0</c>, <c>1e10</c> → <c>10000000000</c>). It is what X-Matrix and server-key signatures sign.
/// A number that is not an integer has no canonical form; it is written as received, so the signature its
/// sender computed with another encoding does not verify (Synapse itself refuses such values in signed JSON).
/// </summary>
internal static class CanonicalJson
{
    /// <summary>Sorts member names by Unicode code point, which is the order of their UTF-8 bytes (not of UTF-16 units).</summary>
    internal static readonly IComparer<string> CodePointOrder = Comparer<string>.Create(CompareByCodePoint);

    private static ReadOnlySpan<byte> HexDigits => "0123456789abcdef"u8;

    /// <summary>Writes <paramref name="element"/> in canonical form, leaving out the top-level members in <paramref name="omit"/>.</summary>
    public static void Write(IBufferWriter<byte> output, JsonElement element, params ReadOnlySpan<string> omit)
    {
        if (element.ValueKind == JsonValueKind.Object && !omit.IsEmpty)
        {
            WriteObject(output, element, omit);
            return;
        }

        WriteValue(output, element);
    }

    public static void WriteValue(IBufferWriter<byte> output, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                WriteObject(output, element, []);
                break;
            case JsonValueKind.Array:
                WriteRaw(output, "["u8);
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    if (!first)
                    {
                        WriteRaw(output, ","u8);
                    }

                    first = false;
                    WriteValue(output, item);
                }

                WriteRaw(output, "]"u8);
                break;
            case JsonValueKind.String:
                WriteString(output, element.GetString()!);
                break;
            case JsonValueKind.Number:
                WriteNumber(output, element);
                break;
            case JsonValueKind.True:
                WriteRaw(output, "true"u8);
                break;
            case JsonValueKind.False:
                WriteRaw(output, "false"u8);
                break;
            default:
                WriteRaw(output, "null"u8);
                break;
        }
    }

    /// <summary>A JSON string literal with only the escapes canonical JSON allows.</summary>
    public static void WriteString(IBufferWriter<byte> output, ReadOnlySpan<char> value)
    {
        WriteRaw(output, "\""u8);
        var start = 0;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c >= 0x20 && c != '"' && c != '\\')
            {
                continue;
            }

            WriteUtf8(output, value[start..i]);
            start = i + 1;
            switch (c)
            {
                case '"': WriteRaw(output, "\\\""u8); break;
                case '\\': WriteRaw(output, "\\\\"u8); break;
                case '\b': WriteRaw(output, "\\b"u8); break;
                case '\f': WriteRaw(output, "\\f"u8); break;
                case '\n': WriteRaw(output, "\\n"u8); break;
                case '\r': WriteRaw(output, "\\r"u8); break;
                case '\t': WriteRaw(output, "\\t"u8); break;
                default:
                    var span = output.GetSpan(6);
                    "\\u00"u8.CopyTo(span);
                    span[4] = HexDigits[c >> 4];
                    span[5] = HexDigits[c & 0xF];
                    output.Advance(6);
                    break;
            }
        }

        WriteUtf8(output, value[start..]);
        WriteRaw(output, "\""u8);
    }

    public static void WriteRaw(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes) => output.Write(bytes);

    private static void WriteObject(IBufferWriter<byte> output, JsonElement element, ReadOnlySpan<string> omit)
    {
        // Small objects are the rule (events, key responses): a pooled array of the members, sorted in place.
        var count = 0;
        foreach (var _ in element.EnumerateObject())
        {
            count++;
        }

        var members = ArrayPool<JsonProperty>.Shared.Rent(Math.Max(count, 1));
        try
        {
            var kept = 0;
            foreach (var member in element.EnumerateObject())
            {
                if (!omit.Contains(member.Name))
                {
                    members[kept++] = member;
                }
            }

            var sorted = members.AsSpan(0, kept);
            sorted.Sort(static (a, b) => CompareByCodePoint(a.Name, b.Name));
            WriteRaw(output, "{"u8);
            for (var i = 0; i < sorted.Length; i++)
            {
                if (i > 0)
                {
                    WriteRaw(output, ","u8);
                }

                WriteString(output, sorted[i].Name);
                WriteRaw(output, ":"u8);
                WriteValue(output, sorted[i].Value);
            }

            WriteRaw(output, "}"u8);
        }
        finally
        {
            members.AsSpan(0, count).Clear();
            ArrayPool<JsonProperty>.Shared.Return(members);
        }
    }

    private static void WriteNumber(IBufferWriter<byte> output, JsonElement element)
    {
        if (element.TryGetInt64(out var integer))
        {
            WriteInteger(output, integer);
        }
        else if (element.TryGetDecimal(out var value) && value == decimal.Truncate(value) && Math.Abs(value) <= long.MaxValue)
        {
            WriteInteger(output, (long)value);
        }
        else
        {
            WriteRaw(output, Encoding.UTF8.GetBytes(element.GetRawText()));
        }
    }

    private static void WriteInteger(IBufferWriter<byte> output, long value)
    {
        var span = output.GetSpan(20);
        value.TryFormat(span, out var written, provider: System.Globalization.CultureInfo.InvariantCulture);
        output.Advance(written);
    }

    private static void WriteUtf8(IBufferWriter<byte> output, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        output.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    private static int CompareByCodePoint(string? a, string? b)
    {
        var x = a.AsSpan();
        var y = b.AsSpan();
        var length = Math.Min(x.Length, y.Length);
        for (var i = 0; i < length; i++)
        {
            var cx = x[i];
            var cy = y[i];
            if (cx == cy)
            {
                continue;
            }

            // UTF-16 order equals code point order except that surrogates (U+D800–DFFF, standing for U+10000 and
            // above) sort below U+E000–FFFF; lift them above.
            return Weight(cx).CompareTo(Weight(cy));
        }

        return x.Length.CompareTo(y.Length);
    }

    private static int Weight(char c) => char.IsSurrogate(c) ? c + 0x10000 : c;
}
