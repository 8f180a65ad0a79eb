using System.Buffers;
using System.Formats.Cbor;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace MessengerProxy.LowBandwidth.Cbor;

/// <summary>A body that cannot be converted; the message is safe to show to the client.</summary>
internal sealed class CborConversionException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Converts between the homeserver's JSON and MSC3079 CBOR. JSON → CBOR writes integers as CBOR integers,
/// replaces known keys by their integer shorthand (at every level) when asked to, and sorts keys in
/// RFC 7049 canonical (length-first) order, which reproduces the MSC's test vector byte for byte.
/// CBOR → JSON expands integer keys (unknown ones become decimal strings), lets a text key win over the
/// integer key of the same name, accepts definite and indefinite lengths, and refuses anything that has
/// no faithful JSON form or exceeds the depth and size limits.
/// </summary>
internal sealed class CborJsonConverter
{
    private static readonly JsonWriterOptions s_writerOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    // 2^53 - 1: the largest integer every JSON parser holds exactly, and the limit of Matrix's canonical JSON.
    private const ulong MaxSafeInteger = 9_007_199_254_740_991;

    private readonly CborKeyTable _keys;
    private readonly int _maxDepth;
    private readonly int _maxItems;

    /// <param name="maxDepth">Deepest nesting of maps and arrays accepted either way.</param>
    /// <param name="maxItems">Most data items (keys and values) one document may hold; bounds the work a tiny body can cause.</param>
    public CborJsonConverter(CborKeyTable keys, int maxDepth = 64, int maxItems = 1_000_000)
    {
        _keys = keys;
        _maxDepth = maxDepth;
        _maxItems = maxItems;
    }

    public CborKeyTable Keys => _keys;

    /// <summary>UTF-8 JSON to CBOR; <paramref name="integerKeys"/> selects the shorthand keys.</summary>
    public byte[] JsonToCbor(ReadOnlySpan<byte> utf8Json, bool integerKeys)
    {
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = _maxDepth, CommentHandling = JsonCommentHandling.Disallow });
        var writer = new CborWriter(CborConformanceMode.Canonical, convertIndefiniteLengthEncodings: true);
        try
        {
            // The reader itself refuses empty input and anything after the first value.
            reader.Read();
            var items = 0;
            WriteJsonValue(ref reader, writer, integerKeys, ref items);
            reader.Read();
            return writer.Encode();
        }
        catch (JsonException ex)
        {
            throw new CborConversionException($"The JSON body is not valid JSON: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex)
        {
            // CborWriter refuses duplicate keys in canonical mode.
            throw new CborConversionException($"The JSON body cannot be represented in CBOR: {ex.Message}", ex);
        }
    }

    /// <summary>CBOR to UTF-8 JSON. Reports whether any integer key was used (the client speaks the key table).</summary>
    public byte[] CborToJson(ReadOnlyMemory<byte> cbor, out bool usedIntegerKeys)
    {
        try
        {
            return ConvertOnce(cbor, resolveConflicts: false, out usedIntegerKeys);
        }
        catch (KeyConflict)
        {
            return ConvertOnce(cbor, resolveConflicts: true, out usedIntegerKeys);
        }
    }

    private byte[] ConvertOnce(ReadOnlyMemory<byte> cbor, bool resolveConflicts, out bool usedIntegerKeys)
    {
        var reader = new CborReader(cbor, CborConformanceMode.Lax, allowMultipleRootLevelValues: false);
        var buffer = new ArrayBufferWriter<byte>(Math.Max(256, cbor.Length * 2));
        var decode = new DecodeState(resolveConflicts);
        try
        {
            using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
            {
                WriteCborValue(decode, reader, writer, 0);
                if (reader.BytesRemaining > 0)
                {
                    throw new CborConversionException("The CBOR body has data after its first item");
                }
            }

            usedIntegerKeys = decode.UsedIntegerKeys;
            return buffer.WrittenSpan.ToArray();
        }
        catch (CborContentException ex)
        {
            throw new CborConversionException($"The CBOR body is malformed: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new CborConversionException($"The CBOR body is malformed: {ex.Message}", ex);
        }
    }

    private void WriteJsonValue(ref Utf8JsonReader reader, CborWriter writer, bool integerKeys, ref int items)
    {
        if (++items > _maxItems)
        {
            throw new CborConversionException($"The JSON body has more than {_maxItems} items");
        }

        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                writer.WriteStartMap(null);
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    WriteKey(ref reader, writer, integerKeys);
                    reader.Read();
                    WriteJsonValue(ref reader, writer, integerKeys, ref items);
                }

                writer.WriteEndMap();
                break;

            case JsonTokenType.StartArray:
                writer.WriteStartArray(null);
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    WriteJsonValue(ref reader, writer, integerKeys, ref items);
                }

                writer.WriteEndArray();
                break;

            case JsonTokenType.String:
                writer.WriteTextString(reader.GetString()!);
                break;

            case JsonTokenType.Number:
                if (reader.TryGetInt64(out var integer))
                {
                    writer.WriteInt64(integer);
                }
                else if (reader.TryGetUInt64(out var unsigned))
                {
                    writer.WriteUInt64(unsigned);
                }
                else
                {
                    // Matrix's canonical JSON has no fractions, but other JSON the homeserver sends may.
                    writer.WriteDouble(reader.GetDouble());
                }

                break;

            case JsonTokenType.True:
                writer.WriteBoolean(true);
                break;
            case JsonTokenType.False:
                writer.WriteBoolean(false);
                break;
            case JsonTokenType.Null:
                writer.WriteNull();
                break;
            default:
                throw new CborConversionException($"Unexpected JSON token {reader.TokenType}");
        }
    }

    private void WriteKey(ref Utf8JsonReader reader, CborWriter writer, bool integerKeys)
    {
        var name = reader.GetString()!;
        if (integerKeys && _keys.TryGetInteger(name, out var shorthand))
        {
            writer.WriteInt32(shorthand);
        }
        else
        {
            writer.WriteTextString(name);
        }
    }

    private void WriteCborValue(DecodeState decode, CborReader reader, Utf8JsonWriter writer, int depth)
    {
        if (++decode.Items > _maxItems)
        {
            throw new CborConversionException($"The CBOR body has more than {_maxItems} items");
        }

        var state = reader.PeekState();
        while (state == CborReaderState.Tag)
        {
            // Tags add meaning JSON cannot carry (dates, big numbers); the tagged item itself is what counts.
            var tag = reader.ReadTag();
            if (tag is CborTag.UnsignedBigNum or CborTag.NegativeBigNum or CborTag.DecimalFraction or CborTag.BigFloat)
            {
                throw new CborConversionException($"CBOR tag {(ulong)tag} (big or decimal number) has no JSON form");
            }

            state = reader.PeekState();
        }

        switch (state)
        {
            case CborReaderState.StartMap:
                if (depth >= _maxDepth)
                {
                    throw new CborConversionException($"The CBOR body is nested deeper than {_maxDepth} levels");
                }

                WriteMap(decode, reader, writer, depth + 1);
                break;

            case CborReaderState.StartArray:
                if (depth >= _maxDepth)
                {
                    throw new CborConversionException($"The CBOR body is nested deeper than {_maxDepth} levels");
                }

                reader.ReadStartArray();
                writer.WriteStartArray();
                while (reader.PeekState() != CborReaderState.EndArray)
                {
                    WriteCborValue(decode, reader, writer, depth + 1);
                }

                reader.ReadEndArray();
                writer.WriteEndArray();
                break;

            case CborReaderState.TextString or CborReaderState.StartIndefiniteLengthTextString:
                writer.WriteStringValue(ReadText(reader));
                break;

            case CborReaderState.ByteString or CborReaderState.StartIndefiniteLengthByteString:
                // As matrix-org/lb does (Go's JSON encoding of []byte): unpadded would break it, so standard base64.
                writer.WriteStringValue(Convert.ToBase64String(reader.ReadByteString()));
                break;

            case CborReaderState.UnsignedInteger:
                var positive = reader.ReadUInt64();
                if (positive > MaxSafeInteger)
                {
                    throw OutsideSafeRange();
                }

                writer.WriteNumberValue(positive);
                break;

            case CborReaderState.NegativeInteger:
                // The value is -1 - n: -(2^53 - 1) at n = 2^53 - 2.
                var negative = reader.ReadCborNegativeIntegerRepresentation();
                if (negative >= MaxSafeInteger)
                {
                    throw OutsideSafeRange();
                }

                writer.WriteNumberValue(-1 - (long)negative);
                break;

            case CborReaderState.HalfPrecisionFloat or CborReaderState.SinglePrecisionFloat or CborReaderState.DoublePrecisionFloat:
                WriteNumber(writer, reader.ReadDouble());
                break;

            case CborReaderState.Boolean:
                writer.WriteBooleanValue(reader.ReadBoolean());
                break;

            case CborReaderState.Null:
                reader.ReadNull();
                writer.WriteNullValue();
                break;

            case CborReaderState.SimpleValue:
                // Undefined included: JSON has no such value, and null would say something the client did not.
                var simple = reader.ReadSimpleValue();
                throw new CborConversionException(simple == CborSimpleValue.Undefined
                    ? "CBOR undefined has no JSON form"
                    : $"CBOR simple value {(byte)simple} has no JSON form");

            default:
                throw new CborConversionException($"Unexpected CBOR item ({state})");
        }
    }

    private void WriteMap(DecodeState decode, CborReader reader, Utf8JsonWriter writer, int depth)
    {
        if (decode.ResolveConflicts)
        {
            WriteMapResolvingConflicts(decode, reader, writer, depth);
            return;
        }

        // The common case: every name once. Written straight through; a repeated name (a duplicate, or a text
        // key next to the integer key of the same name) sends the whole document to the slower path.
        var names = decode.Names;
        var first = names.Count;
        HashSet<string>? large = null;
        reader.ReadStartMap();
        writer.WriteStartObject();
        while (reader.PeekState() != CborReaderState.EndMap)
        {
            var name = ReadKey(reader, out var fromInteger);
            decode.UsedIntegerKeys |= fromInteger;

            // A scan is cheapest for the few keys of an event; a big map (rooms, users) gets a set.
            if (large is not null)
            {
                if (!large.Add(name))
                {
                    throw new KeyConflict();
                }
            }
            else
            {
                for (var i = first; i < names.Count; i++)
                {
                    if (string.Equals(names[i], name, StringComparison.Ordinal))
                    {
                        throw new KeyConflict();
                    }
                }

                if (names.Count - first == 16)
                {
                    large = new HashSet<string>(names.Skip(first), StringComparer.Ordinal) { name };
                }
            }

            names.Add(name);
            writer.WritePropertyName(name);
            WriteCborValue(decode, reader, writer, depth);
        }

        names.RemoveRange(first, names.Count - first);
        reader.ReadEndMap();
        writer.WriteEndObject();
    }

    /// <summary>
    /// The map with repeated names: each value is converted into its own buffer first, so a text key can
    /// replace the integer key of the same name whatever their order ("the string key MUST be used"), and true
    /// duplicates are refused.
    /// </summary>
    private void WriteMapResolvingConflicts(DecodeState decode, CborReader reader, Utf8JsonWriter writer, int depth)
    {
        reader.ReadStartMap();
        var entries = new List<(string Name, bool FromInteger, byte[] Json)>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        while (reader.PeekState() != CborReaderState.EndMap)
        {
            var name = ReadKey(reader, out var fromInteger);
            decode.UsedIntegerKeys |= fromInteger;
            var value = new ArrayBufferWriter<byte>();
            using (var valueWriter = new Utf8JsonWriter(value, s_writerOptions))
            {
                WriteCborValue(decode, reader, valueWriter, depth);
            }

            if (index.TryGetValue(name, out var existing))
            {
                if (entries[existing].FromInteger == fromInteger)
                {
                    throw new CborConversionException($"The CBOR map has the key '{Truncate(name)}' twice");
                }

                if (!fromInteger)
                {
                    entries[existing] = (name, false, value.WrittenSpan.ToArray());
                }

                continue;
            }

            index[name] = entries.Count;
            entries.Add((name, fromInteger, value.WrittenSpan.ToArray()));
        }

        reader.ReadEndMap();
        writer.WriteStartObject();
        foreach (var (name, _, json) in entries)
        {
            writer.WritePropertyName(name);
            writer.WriteRawValue(json, skipInputValidation: true);
        }

        writer.WriteEndObject();
    }

    private string ReadKey(CborReader reader, out bool fromInteger)
    {
        switch (reader.PeekState())
        {
            case CborReaderState.TextString or CborReaderState.StartIndefiniteLengthTextString:
                fromInteger = false;
                return ReadText(reader);
            case CborReaderState.UnsignedInteger:
                fromInteger = true;
                var key = reader.ReadUInt64();
                return key <= long.MaxValue && _keys.TryGetName((long)key, out var known) ? known : key.ToString(CultureInfo.InvariantCulture);
            case CborReaderState.NegativeInteger:
                fromInteger = true;
                return "-" + (reader.ReadCborNegativeIntegerRepresentation() + 1).ToString(CultureInfo.InvariantCulture);
            default:
                throw new CborConversionException($"A CBOR map key must be a text string or an integer, not {reader.PeekState()}");
        }
    }

    private static void WriteNumber(Utf8JsonWriter writer, double value)
    {
        if (double.IsNaN(value) || double.IsInfinity(value))
        {
            throw new CborConversionException("A CBOR float is NaN or infinite, which JSON cannot hold");
        }

        // Every double beyond 2^53 is a whole number, and lb's encoder writes integers as floats: the same limit.
        if (Math.Abs(value) > MaxSafeInteger)
        {
            throw OutsideSafeRange();
        }

        // Integral floats (lb's encoder writes every number as a float) become JSON integers.
        if (value == Math.Floor(value))
        {
            writer.WriteNumberValue((long)value);
        }
        else
        {
            writer.WriteNumberValue(value);
        }
    }

    /// <summary>
    /// A text string, refused unless it is valid UTF-8 (RFC 8949 §3.1; each chunk of an indefinite-length
    /// string on its own, §3.2.3). The reader's lax mode would turn bad bytes into U+FFFD and forward a body
    /// that says something other than what the client sent.
    /// </summary>
    private static string ReadText(CborReader reader)
    {
        if (reader.PeekState() == CborReaderState.TextString)
        {
            return DecodeText(reader.ReadDefiniteLengthTextStringBytes().Span);
        }

        reader.ReadStartIndefiniteLengthTextString();
        var text = new StringBuilder();
        while (reader.PeekState() != CborReaderState.EndIndefiniteLengthTextString)
        {
            text.Append(DecodeText(reader.ReadDefiniteLengthTextStringBytes().Span));
        }

        reader.ReadEndIndefiniteLengthTextString();
        return text.ToString();
    }

    private static string DecodeText(ReadOnlySpan<byte> utf8) =>
        Utf8.IsValid(utf8) ? Encoding.UTF8.GetString(utf8) : throw new CborConversionException("A CBOR text string is not valid UTF-8");

    private static CborConversionException OutsideSafeRange() =>
        new($"A CBOR number is outside ±{MaxSafeInteger}, the integers JSON carries exactly (RFC 8259 §6)");

    private static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";

    /// <summary>A map repeats a name; the conversion starts again on the path that resolves it.</summary>
    private sealed class KeyConflict : Exception;

    /// <summary>One conversion's state: names of the open maps (a stack, one segment per map), counters.</summary>
    private sealed class DecodeState(bool resolveConflicts)
    {
        public bool ResolveConflicts { get; } = resolveConflicts;

        public List<string> Names { get; } = [];

        public int Items { get; set; }

        public bool UsedIntegerKeys { get; set; }
    }
}
