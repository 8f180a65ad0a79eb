using System.Globalization;
using System.Text.Json;

namespace MessengerProxy.Policy.Federation;

/// <summary>One entry as it travels between the registration service and the proxy.</summary>
public readonly record struct FederationListWireEntry(string Domain, string TelematikId, bool IsInsurance, IReadOnlyList<string> Ik);

/// <summary>
/// The federation list document both sides speak (the TIM reference's format):
/// <c>{"version":N,"domainList":[{"domain","telematikID","isInsurance","ik"}]}</c>; the proxy's persisted copy
/// adds <c>confirmedAt</c>.
/// </summary>
public static class FederationListWire
{
    public static void Write(Utf8JsonWriter writer, long version, IEnumerable<FederationListWireEntry> entries, DateTimeOffset? confirmedAt = null)
    {
        writer.WriteStartObject();
        writer.WriteNumber("version", version);
        if (confirmedAt is { } at)
        {
            writer.WriteString("confirmedAt", at.ToString("O", CultureInfo.InvariantCulture));
        }

        writer.WriteStartArray("domainList");
        foreach (var entry in entries)
        {
            writer.WriteStartObject();
            writer.WriteString("domain", entry.Domain);
            writer.WriteString("telematikID", entry.TelematikId);
            writer.WriteBoolean("isInsurance", entry.IsInsurance);
            writer.WriteStartArray("ik");
            foreach (var ik in entry.Ik)
            {
                writer.WriteStringValue(ik);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
