using System.Text.Json.Serialization;

namespace MessengerProxy.Policy.Federation;

/// <summary>
/// One entry of the federation list, as the VZD defines it and every part of this repository holds it: the
/// registration service's input and storage, its answer to the proxies, and the proxies' in-memory and
/// persisted copies.
/// </summary>
/// <remarks>
/// <see cref="Ik"/> and <see cref="TimAnbieter"/> are init properties rather than constructor parameters so that
/// a JSON <c>null</c> for them is a type error for a strict reader instead of "absent".
/// </remarks>
internal sealed record FederationDomain(
    [property: JsonPropertyName("domain")] string Domain,
    [property: JsonPropertyName("telematikID")] string TelematikId,
    [property: JsonPropertyName("isInsurance")] bool IsInsurance = false)
{
    private readonly IReadOnlyList<string> _ik = [];

    /// <summary>The insurance's IK numbers (9 digits each); empty for other organisations.</summary>
    /// <remarks>
    /// The source-generated reader sets every init property, passing null for absent ones; a JSON null itself
    /// never gets here (strict readers refuse it as a null for a non-nullable member).
    /// </remarks>
    [JsonPropertyName("ik")]
    public IReadOnlyList<string> Ik { get => _ik; init => _ik = value ?? []; }

    /// <summary>Sent by some VZD versions; accepted and not kept.</summary>
    [JsonPropertyName("timAnbieter")]
    public string? TimAnbieter { get; init; }
}

/// <summary>
/// The federation list document both sides speak (the TIM reference's format):
/// <c>{"version":N,"domainList":[{"domain","telematikID","isInsurance","ik"}]}</c>. The registration service reads
/// it strictly (its own source-generated context refuses unknown, repeated and missing members), the proxy
/// leniently (the TIM reference service may add fields); both write it through <see cref="FederationListJsonContext"/>.
/// </summary>
/// <remarks>Not sealed: the proxy's persisted copy extends it with the time of the last confirmation.</remarks>
internal record FederationListDocument([property: JsonPropertyName("domainList")] IReadOnlyList<FederationDomain> DomainList)
{
    /// <summary>
    /// The list's version: assigned by the registration service (so absent from admin input), required from the
    /// VZD and in the service's answers. An init property, so that strict readers do not treat it as required.
    /// </summary>
    [JsonPropertyName("version")]
    [JsonPropertyOrder(-1)]
    public long? Version { get; init; }
}

/// <summary>Lenient reading and the one writer of <see cref="FederationListDocument"/> (null members are left out).</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, MaxDepth = 8)]
[JsonSerializable(typeof(FederationListDocument))]
internal sealed partial class FederationListJsonContext : JsonSerializerContext;
