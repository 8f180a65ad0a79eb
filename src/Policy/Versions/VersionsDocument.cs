using System.Text.Json;

namespace MessengerProxy.Policy.Versions;

/// <summary>
/// Rewrites a <c>GET /_matrix/client/versions</c> response so that it promises nothing the proxy would then
/// refuse: spec versions above the maximum are removed, and unstable features only survive when the
/// operator allows them. All other top-level fields pass unchanged and in order.
/// </summary>
internal static class VersionsDocument
{
    /// <summary>Filters <paramref name="utf8Json"/>; throws <see cref="FormatException"/> for anything that is not a versions object.</summary>
    /// <param name="advertised">Top-level members the proxy adds (e.g. the low-bandwidth front door), replacing the homeserver's of the same name.</param>
    public static byte[] Filter(ReadOnlyMemory<byte> utf8Json, MatrixSpecVersion maximum, IReadOnlySet<string> allowedUnstableFeatures,
        IReadOnlyList<KeyValuePair<string, System.Text.Json.Nodes.JsonNode>>? advertised = null)
    {
        ArgumentNullException.ThrowIfNull(allowedUnstableFeatures);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw new FormatException("the homeserver's /versions response is not valid JSON", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("versions", out var versions)
                || versions.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("the homeserver's /versions response has no \"versions\" array");
            }

            using var output = new MemoryStream(utf8Json.Length);
            using (var writer = new Utf8JsonWriter(output))
            {
                writer.WriteStartObject();
                foreach (var property in root.EnumerateObject())
                {
                    if (property.NameEquals("versions"u8))
                    {
                        writer.WriteStartArray("versions"u8);
                        foreach (var item in property.Value.EnumerateArray())
                        {
                            if (item.ValueKind == JsonValueKind.String
                                && MatrixSpecVersion.TryParse(item.GetString(), out var version)
                                && version <= maximum)
                            {
                                item.WriteTo(writer);
                            }
                        }

                        writer.WriteEndArray();
                    }
                    else if (property.NameEquals("unstable_features"u8) && property.Value.ValueKind == JsonValueKind.Object)
                    {
                        writer.WriteStartObject("unstable_features"u8);
                        foreach (var feature in property.Value.EnumerateObject())
                        {
                            if (allowedUnstableFeatures.Contains(feature.Name))
                            {
                                feature.WriteTo(writer);
                            }
                        }

                        writer.WriteEndObject();
                    }
                    else if (advertised is null || !advertised.Any(a => property.NameEquals(a.Key)))
                    {
                        property.WriteTo(writer);
                    }
                }

                foreach (var (name, value) in advertised ?? [])
                {
                    writer.WritePropertyName(name);
                    value.WriteTo(writer);
                }

                writer.WriteEndObject();
            }

            return output.ToArray();
        }
    }
}
