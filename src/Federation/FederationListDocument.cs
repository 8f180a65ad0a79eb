using System.Globalization;
using System.Text.Json;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Federation;

/// <summary>
/// Reads the registration service's list document (<c>{"version":N,"domainList":[{"domain",…}]}</c>, also the
/// TIM reference service's, which has no <c>ik</c>) and writes the proxy's persisted copy in the same shape
/// plus <c>confirmedAt</c>.
/// </summary>
internal static class FederationListDocument
{
    private static readonly JsonDocumentOptions s_options = new() { MaxDepth = 8 };

    /// <exception cref="FormatException">When the document is not a usable list.</exception>
    public static (FederationList List, DateTimeOffset? ConfirmedAt) Parse(ReadOnlyMemory<byte> json)
    {
        try
        {
            using var document = JsonDocument.Parse(json, s_options);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("version", out var versionElement) || !versionElement.TryGetInt64(out var version)
                || !root.TryGetProperty("domainList", out var list) || list.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("expected {\"version\":<integer>,\"domainList\":[…]}");
            }

            DateTimeOffset? confirmedAt = root.TryGetProperty("confirmedAt", out var confirmed) && confirmed.ValueKind == JsonValueKind.String
                ? DateTimeOffset.Parse(confirmed.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind)
                : null;

            var entries = new List<FederationListEntry>(list.GetArrayLength());
            var index = 0;
            foreach (var item in list.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("domain", out var domain) || domain.ValueKind != JsonValueKind.String
                    || string.IsNullOrWhiteSpace(domain.GetString()))
                {
                    throw new FormatException($"domainList[{index}]: no domain");
                }

                var ik = item.TryGetProperty("ik", out var ikElement) && ikElement.ValueKind == JsonValueKind.Array
                    ? ikElement.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToArray()
                    : [];
                entries.Add(new FederationListEntry(
                    domain.GetString()!.ToLowerInvariant(),
                    item.TryGetProperty("telematikID", out var telematik) && telematik.ValueKind == JsonValueKind.String ? telematik.GetString()! : string.Empty,
                    item.TryGetProperty("isInsurance", out var insurance) && insurance.ValueKind == JsonValueKind.True,
                    ik));
                index++;
            }

            return (new FederationList(version, entries), confirmedAt);
        }
        catch (JsonException ex)
        {
            throw new FormatException("not valid JSON: " + ex.Message, ex);
        }
    }

    public static void Write(Stream stream, FederationList list, DateTimeOffset confirmedAt)
    {
        using var writer = new Utf8JsonWriter(stream);
        FederationListWire.Write(writer, list.Version, list.Entries.Select(e => new FederationListWireEntry(e.Domain, e.TelematikId, e.IsInsurance, e.Ik)), confirmedAt);
    }
}
