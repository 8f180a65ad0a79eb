using System.Text.Json;
using System.Text.Json.Serialization;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Federation;

/// <summary>
/// The list document as the proxy reads it (the registration service's answer, also the TIM reference
/// service's, which has no <c>ik</c> and may add fields) and keeps it on disk: the shared
/// <see cref="FederationListDocument"/> plus <c>confirmedAt</c>.
/// </summary>
internal sealed record FederationListCopy(IReadOnlyList<FederationDomain> DomainList) : FederationListDocument(DomainList)
{
    /// <summary>When the registration service last confirmed this version; only in the persisted copy.</summary>
    [JsonPropertyName("confirmedAt")]
    public DateTimeOffset? ConfirmedAt { get; init; }

    /// <summary>The proxy verified this version's signature when it arrived; only in the persisted copy.</summary>
    [JsonPropertyName("signed")]
    public bool? Signed { get; init; }

    /// <param name="persisted">The proxy's own copy, whose <c>signed</c> marker counts; in any other document it is ignored.</param>
    /// <exception cref="FormatException">When the document is not a usable list.</exception>
    public static (FederationList List, DateTimeOffset? ConfirmedAt) Parse(ReadOnlyMemory<byte> json, bool persisted = false)
    {
        FederationListCopy? copy;
        try
        {
            copy = JsonSerializer.Deserialize(json.Span, FederationListCopyJsonContext.Default.FederationListCopy);
        }
        catch (JsonException ex)
        {
            throw new FormatException("not a federation list document: " + ex.Message, ex);
        }

        if (copy is not { Version: { } version, DomainList: { } list })
        {
            throw new FormatException("expected {\"version\":<integer>,\"domainList\":[…]}");
        }

        var entries = new List<FederationDomain>(list.Count);
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] is not { } entry || string.IsNullOrWhiteSpace(entry.Domain))
            {
                throw new FormatException($"domainList[{i}]: no domain");
            }

            // Lenient on what the proxy does not need: a missing telematikID is an empty one (a missing ik is empty anyway).
            entries.Add(entry with { Domain = ServerName.NormalizeHost(entry.Domain), TelematikId = entry.TelematikId ?? string.Empty, TimAnbieter = null });
        }

        var result = new FederationList(version, entries);
        return (persisted && copy.Signed == true ? result.Signed() : result, copy.ConfirmedAt);
    }

    public static void Write(Stream stream, FederationList list, DateTimeOffset confirmedAt) =>
        JsonSerializer.Serialize(stream, new FederationListCopy(list.Entries.ToList()) { Version = list.Version, ConfirmedAt = confirmedAt, Signed = list.IsSigned ? true : null }, FederationListCopyJsonContext.Default.FederationListCopy);
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 8)]
[JsonSerializable(typeof(FederationListCopy))]
internal sealed partial class FederationListCopyJsonContext : JsonSerializerContext;
