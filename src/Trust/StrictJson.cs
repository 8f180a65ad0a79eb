using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using System.Text.Unicode;

namespace MessengerProxy.Trust;

/// <summary>
/// The one reader of every JSON body the registration service accepts, and of the JWS header both it and the
/// proxy verify (so both refuse the same headers). Structure is System.Text.Json's: the strict context
/// refuses unknown members (<see cref="JsonUnmappedMemberHandling.Disallow"/>), repeated ones
/// (<c>AllowDuplicateProperties = false</c>: JSON parsers disagree on which one wins), missing required ones
/// (<c>RespectRequiredConstructorParameters</c>) and nulls where the type has none
/// (<c>RespectNullableAnnotations</c>) — the registration service's <c>StrictJsonContext</c> is that context. This class adds what the serializer does not check, that the text is
/// Unicode, and turns the serializer's exceptions into refusals that name the field:
/// <c>domainList[3].colour: unknown field</c>.
/// </summary>
internal static class StrictJson
{
    public const int MaxDepth = 8;

    private static readonly JsonDocumentOptions s_documentOptions = new() { MaxDepth = MaxDepth, AllowDuplicateProperties = false };

    /// <summary>
    /// Deserializes <paramref name="json"/> strictly. <paramref name="wrongType"/> gives the refusal of a value
    /// of the wrong JSON type at a field path (<c>domainList[0].isInsurance</c>, or empty for the root).
    /// </summary>
    public static bool TryDeserialize<T>(ReadOnlyMemory<byte> json, JsonTypeInfo<T> typeInfo, Func<string, string> wrongType, out T value, out string error)
    {
        value = default!;
        if (!TryCheckText(json.Span, out error))
        {
            return false;
        }

        try
        {
            value = JsonSerializer.Deserialize(json.Span, typeInfo)!;
        }
        catch (JsonException ex)
        {
            error = Describe(ex, wrongType);
            return false;
        }

        if (value is null)
        {
            error = wrongType(string.Empty);
            return false;
        }

        return true;
    }

    /// <summary>
    /// Parses a body that is read element by element (the JWS header, whose unknown parameters are allowed),
    /// after the same text checks; a repeated member anywhere is refused as <c>{path}.{name}: appears twice</c>.
    /// </summary>
    public static bool TryParseDocument(ReadOnlyMemory<byte> json, string path, out JsonDocument document, out string error)
    {
        document = null!;
        if (!TryCheckText(json.Span, out error))
        {
            return false;
        }

        try
        {
            document = JsonDocument.Parse(json, s_documentOptions);
            return true;
        }
        catch (JsonException ex) when (ex.Message.StartsWith("Duplicate property '", StringComparison.Ordinal))
        {
            // JsonDocument names the member but gives no path; the documents read this way are flat.
            var name = ex.Message["Duplicate property '".Length..];
            error = $"{path}.{name[..name.IndexOf('\'', StringComparison.Ordinal)]}: appears twice";
            return false;
        }
    }

    /// <summary>
    /// Valid UTF-8 (RFC 8259 §8.1), valid JSON, and strings that are strings of characters (§8.2): System.Text.Json
    /// leaves escapes of unpaired surrogates (<c>"\ud800"</c>) in place until a string is read, and then throws,
    /// so without this a single bad string would surface as a type error or a 500 instead of this refusal.
    /// </summary>
    private static bool TryCheckText(ReadOnlySpan<byte> json, out string error)
    {
        if (!Utf8.IsValid(json))
        {
            error = $"the body is not valid JSON: invalid UTF-8 at byte offset {FirstInvalidUtf8(json)}";
            return false;
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
        long? unpaired = null;
        try
        {
            while (reader.Read())
            {
                if (unpaired is null && reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped && !IsText(ref reader))
                {
                    unpaired = reader.TokenStartIndex;
                }
            }
        }
        catch (JsonException ex)
        {
            error = $"the body is not valid JSON ({ex.Message.Split('.')[0]})";
            return false;
        }

        if (unpaired is { } offset)
        {
            error = $"the body is not valid JSON: the string at byte offset {offset} escapes an unpaired UTF-16 surrogate, which is not a character";
            return false;
        }

        error = string.Empty;
        return true;
    }

    private static bool IsText(ref Utf8JsonReader reader)
    {
        try
        {
            _ = reader.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> utf8)
    {
        var offset = 0;
        while (offset < utf8.Length && Rune.DecodeFromUtf8(utf8[offset..], out _, out var consumed) == OperationStatus.Done)
        {
            offset += consumed;
        }

        return offset;
    }

    /// <summary>
    /// The member a field path ends in, for a reader's table of refusals: <c>domainList[0].ik[2]</c> is an element
    /// (<c>("ik", true)</c>), <c>domainList[0].ik</c> the member itself, the empty path the root (<c>("", false)</c>).
    /// </summary>
    public static (string Name, bool Element) MemberOf(string path)
    {
        var element = path.EndsWith(']');
        var name = element ? path[..path.LastIndexOf('[')] : path;
        return (name[(name.LastIndexOf('.') + 1)..], element);
    }

    /// <summary>
    /// The serializer reports what went wrong only in its message (there is no error code), with the JSON path
    /// of the member; the messages are the runtime's invariant resources (the service runs with invariant
    /// globalisation), and the tests of every refusal below pin them.
    /// </summary>
    private static string Describe(JsonException ex, Func<string, string> wrongType)
    {
        var path = ex.Path switch
        {
            null or "$" => string.Empty,
            var p when p.StartsWith("$.", StringComparison.Ordinal) => p[2..],
            var p => p[1..],
        };
        var message = ex.Message;
        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            return $"{path}: unknown field";
        }

        if (message.StartsWith("Duplicate property", StringComparison.Ordinal))
        {
            return $"{path}: appears twice";
        }

        const string Missing = "missing required properties including: '";
        if (message.IndexOf(Missing, StringComparison.Ordinal) is var at and >= 0)
        {
            var name = message[(at + Missing.Length)..];
            name = name[..name.IndexOf('\'', StringComparison.Ordinal)];
            var field = path.Length == 0 ? name : $"{path}.{name}";
            var wrong = wrongType(field);
            // A required array is described as such ("domainList: required, must be an array").
            return wrong.StartsWith("required", StringComparison.Ordinal) ? $"{field}: {wrong}" : $"{field}: required";
        }

        // Everything else is a value of the wrong type, or a null where none is allowed.
        return path.Length == 0 ? wrongType(path) : $"{path}: {wrongType(path)}";
    }
}
