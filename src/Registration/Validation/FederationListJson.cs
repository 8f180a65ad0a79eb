using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using MessengerProxy.Persistence.Federation;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Registration.Validation;

/// <summary>
/// Strict reading of federation list documents (admin input and VZD payloads) and writing of the proxy
/// API's answer. Every refusal names the offending field, e.g. <c>domainList[3].domain: …</c>.
/// </summary>
internal static class FederationListJson
{
    private static readonly JsonDocumentOptions s_options = new() { MaxDepth = 8 };
    private static readonly JsonWriterOptions s_writerOptions = new() { Indented = false };

    /// <summary>Parses <c>{"version":N?, "domainList":[…]}</c>; <paramref name="requireVersion"/> for VZD payloads.</summary>
    public static bool TryParseList(ReadOnlyMemory<byte> json, bool requireVersion, out long? version, out List<FederationDomain> domains, out string error)
    {
        version = null;
        domains = [];
        if (!TryParseDocument(json, out var document, out error))
        {
            return false;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "the body must be a JSON object with a \"domainList\" array";
                return false;
            }

            JsonElement? list = null;
            long? parsedVersion = null;
            if (!ForEachProperty(root, string.Empty, (name, value, path) =>
                {
                    switch (name)
                    {
                        case "version":
                            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var v) || v < 0)
                            {
                                return $"{path}: must be a non-negative integer";
                            }

                            parsedVersion = v;
                            return null;
                        case "domainList":
                            list = value;
                            return null;
                        default:
                            return $"{path}: unknown field";
                    }
                }, out error))
            {
                return false;
            }

            version = parsedVersion;
            if (requireVersion && version is null)
            {
                error = "version: required";
                return false;
            }

            if (list is not { ValueKind: JsonValueKind.Array } array)
            {
                error = "domainList: required, must be an array";
                return false;
            }

            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            var index = 0;
            foreach (var item in array.EnumerateArray())
            {
                var path = $"domainList[{index}]";
                if (!TryParseDomain(item, path, out var domain, out error))
                {
                    return false;
                }

                if (seen.TryGetValue(domain.Domain, out var first))
                {
                    error = $"{path}.domain: '{domain.Domain}' is a duplicate of domainList[{first}]";
                    return false;
                }

                seen.Add(domain.Domain, index);
                domains.Add(domain);
                index++;
            }

            return true;
        }
    }

    /// <summary>
    /// The refusal of a list without domains, unless the caller asked for one: the proxies treat an empty
    /// list as unusable and suspend all federation, so storing one by accident takes every server offline.
    /// </summary>
    public static string? EmptyListProblem(IReadOnlyCollection<FederationDomain> domains, bool allowEmpty) =>
        domains.Count > 0 || allowEmpty
            ? null
            : "domainList: empty; the proxies treat an empty list as unusable and suspend all federation (allowEmpty=true stores it deliberately)";

    /// <summary>Parses one domain entry (<c>domain</c>, <c>telematikID</c>, <c>isInsurance</c>, <c>ik</c>; <c>timAnbieter</c> is accepted and ignored).</summary>
    public static bool TryParseDomain(JsonElement element, string path, out FederationDomain domain, out string error)
    {
        domain = null!;
        if (element.ValueKind != JsonValueKind.Object)
        {
            error = $"{path}: must be an object";
            return false;
        }

        string? name = null;
        string? telematikId = null;
        var isInsurance = false;
        var ik = new List<string>();
        var prefix = path.Length == 0 ? string.Empty : path + ".";
        if (!ForEachProperty(element, path, (field, value, fieldPath) =>
            {
                switch (field)
                {
                    case "domain":
                        if (value.ValueKind != JsonValueKind.String)
                        {
                            return $"{fieldPath}: must be a string";
                        }

                        if (!DomainNames.TryNormalize(value.GetString(), out var normalized, out var why))
                        {
                            return $"{fieldPath}: {why}";
                        }

                        name = normalized;
                        return null;
                    case "telematikID":
                        if (value.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(value.GetString()) || value.GetString()!.Length > 256)
                        {
                            return $"{fieldPath}: must be a non-empty string of at most 256 characters";
                        }

                        telematikId = value.GetString();
                        return null;
                    case "isInsurance":
                        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                        {
                            return $"{fieldPath}: must be true or false";
                        }

                        isInsurance = value.GetBoolean();
                        return null;
                    case "ik":
                        if (value.ValueKind != JsonValueKind.Array)
                        {
                            return $"{fieldPath}: must be an array of IK numbers";
                        }

                        var i = 0;
                        foreach (var number in value.EnumerateArray())
                        {
                            var text = number.ValueKind == JsonValueKind.String ? number.GetString()! : null;
                            if (text is null || text.Length != 9 || text.AsSpan().ContainsAnyExceptInRange('0', '9'))
                            {
                                return $"{fieldPath}[{i}]: must be a 9-digit IK number as a string";
                            }

                            ik.Add(text);
                            i++;
                        }

                        return null;
                    case "timAnbieter":
                        return value.ValueKind is JsonValueKind.String or JsonValueKind.Null ? null : $"{fieldPath}: must be a string";
                    default:
                        return $"{fieldPath}: unknown field";
                }
            }, out error))
        {
            return false;
        }

        if (name is null)
        {
            error = $"{prefix}domain: required";
            return false;
        }

        if (telematikId is null)
        {
            error = $"{prefix}telematikID: required";
            return false;
        }

        if (isInsurance && ik.Count == 0)
        {
            error = $"{prefix}ik: an insurance ('isInsurance': true) needs at least one IK number";
            return false;
        }

        domain = new FederationDomain(name, telematikId, isInsurance, ik);
        return true;
    }

    /// <summary>
    /// The one reader of every JSON body the service accepts (admin list, domain entry, support document, JWS
    /// header and payload). Beyond the syntax it checks that the text is Unicode: System.Text.Json leaves
    /// invalid UTF-8 and escapes of unpaired surrogates (<c>"\ud800"</c>) in place until a string is read, and
    /// then throws, so without this a single bad string would escape as a 500 instead of a refusal.
    /// </summary>
    public static bool TryParseDocument(ReadOnlyMemory<byte> json, out JsonDocument document, out string error)
    {
        document = null!;
        if (!Utf8.IsValid(json.Span))
        {
            // JSON exchanged between systems must be UTF-8 (RFC 8259 8.1).
            error = $"the body is not valid JSON: invalid UTF-8 at byte offset {FirstInvalidUtf8(json.Span)}";
            return false;
        }

        try
        {
            document = JsonDocument.Parse(json, s_options);
        }
        catch (JsonException ex)
        {
            error = $"the body is not valid JSON ({ex.Message.Split('.')[0]})";
            return false;
        }

        if (FindUnpairedSurrogateEscape(json.Span) is { } offset)
        {
            // Valid JSON grammar, but not a string of characters (RFC 8259 8.2): refused rather than guessed at.
            document.Dispose();
            document = null!;
            error = $"the body is not valid JSON: the string at byte offset {offset} escapes an unpaired UTF-16 surrogate, which is not a character";
            return false;
        }

        error = string.Empty;
        return true;
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

    /// <summary>The offset of the first string or property name whose escapes do not decode to UTF-16 text; null when all do.</summary>
    private static long? FindUnpairedSurrogateEscape(ReadOnlySpan<byte> json)
    {
        // Valid UTF-8 cannot encode a surrogate, so only a \u escape can produce one: most bodies have none.
        if (json.IndexOf("\\u"u8) < 0)
        {
            return null;
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = s_options.MaxDepth });
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped)
            {
                try
                {
                    _ = reader.GetString();
                }
                catch (InvalidOperationException)
                {
                    return reader.TokenStartIndex;
                }
            }
        }

        return null;
    }

    /// <summary>Visits each property once; a repeated property name is an error (JSON parsers disagree on which one wins).</summary>
    public static bool ForEachProperty(JsonElement element, string path, Func<string, JsonElement, string, string?> visit, out string error)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            var fieldPath = path.Length == 0 ? property.Name : $"{path}.{property.Name}";
            if (!seen.Add(property.Name))
            {
                error = $"{fieldPath}: appears twice";
                return false;
            }

            if (visit(property.Name, property.Value, fieldPath) is { } problem)
            {
                error = problem;
                return false;
            }
        }

        error = string.Empty;
        return true;
    }

    /// <summary>The proxy API's answer: <c>{"version":N,"domainList":[{"domain","telematikID","isInsurance","ik"}]}</c>.</summary>
    public static byte[] Serialize(FederationListSnapshot snapshot)
    {
        using var buffer = new MemoryStream(64 + snapshot.Domains.Count * 96);
        using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            FederationListWire.Write(writer, snapshot.Version, snapshot.Domains.Select(d => new FederationListWireEntry(d.Domain, d.TelematikId, d.IsInsurance, d.Ik)));
        }

        return buffer.ToArray();
    }
}
