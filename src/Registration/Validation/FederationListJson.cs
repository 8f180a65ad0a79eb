using System.Text.Json;
using MessengerProxy.Persistence.Federation;
using MessengerProxy.Policy.Federation;
using MessengerProxy.Trust;

namespace MessengerProxy.Registration.Validation;

/// <summary>
/// Federation list documents (admin input and VZD payloads) read strictly: the structure through
/// <see cref="StrictJsonContext"/>, then what a schema cannot say (domain names, IK numbers, duplicates).
/// Every refusal names the offending field, e.g. <c>domainList[3].domain: …</c>.
/// </summary>
internal static class FederationListJson
{
    /// <summary>Parses <c>{"version":N?, "domainList":[…]}</c>; <paramref name="requireVersion"/> for VZD payloads.</summary>
    public static bool TryParseList(ReadOnlyMemory<byte> json, bool requireVersion, out long? version, out List<FederationDomain> domains, out string error)
    {
        version = null;
        domains = [];
        if (!StrictJson.TryDeserialize(json, StrictJsonContext.Default.FederationListDocument, WrongType, out var document, out error))
        {
            return false;
        }

        if (document.Version is < 0)
        {
            error = "version: must be a non-negative integer";
            return false;
        }

        version = document.Version;
        if (requireVersion && version is null)
        {
            error = "version: required";
            return false;
        }

        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var index = 0; index < document.DomainList.Count; index++)
        {
            var path = $"domainList[{index}]";
            if (!TryCheckDomain(document.DomainList[index], path, out var domain, out error))
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
        }

        return true;
    }

    /// <summary>Parses one domain entry (<c>domain</c>, <c>telematikID</c>, <c>isInsurance</c>, <c>ik</c>; <c>timAnbieter</c> is accepted and ignored).</summary>
    public static bool TryParseDomain(ReadOnlyMemory<byte> json, out FederationDomain domain, out string error)
    {
        domain = null!;
        return StrictJson.TryDeserialize(json, StrictJsonContext.Default.FederationDomain, p => p.Length == 0 ? "the body must be a JSON object" : WrongType(p), out var entry, out error)
            && TryCheckDomain(entry, string.Empty, out domain, out error);
    }

    /// <summary>
    /// The refusal of a list without domains, unless the caller asked for one: the proxies treat an empty
    /// list as unusable and suspend all federation, so storing one by accident takes every server offline.
    /// </summary>
    public static string? EmptyListProblem(IReadOnlyCollection<FederationDomain> domains, bool allowEmpty) =>
        domains.Count > 0 || allowEmpty
            ? null
            : "domainList: empty; the proxies treat an empty list as unusable and suspend all federation (allowEmpty=true stores it deliberately)";

    /// <summary>The proxy API's answer: <c>{"version":N,"domainList":[{"domain","telematikID","isInsurance","ik"}]}</c>.</summary>
    public static byte[] Serialize(FederationListSnapshot snapshot) =>
        JsonSerializer.SerializeToUtf8Bytes(new FederationListDocument(snapshot.Domains) { Version = snapshot.Version }, FederationListJsonContext.Default.FederationListDocument);

    /// <summary>The values of one entry; the entry comes back normalised (lower-case domain, no <c>timAnbieter</c>).</summary>
    private static bool TryCheckDomain(FederationDomain? entry, string path, out FederationDomain domain, out string error)
    {
        domain = null!;
        var prefix = path.Length == 0 ? string.Empty : path + ".";
        if (entry is null)
        {
            error = $"{path}: must be an object";
            return false;
        }

        if (!DomainNames.TryNormalize(entry.Domain, out var normalized, out var why))
        {
            error = $"{prefix}domain: {why}";
            return false;
        }

        if (string.IsNullOrWhiteSpace(entry.TelematikId) || entry.TelematikId.Length > 256)
        {
            error = $"{prefix}telematikID: {WrongType("telematikID")}";
            return false;
        }

        for (var i = 0; i < entry.Ik.Count; i++)
        {
            if (entry.Ik[i] is not { Length: 9 } number || number.AsSpan().ContainsAnyExceptInRange('0', '9'))
            {
                error = $"{prefix}ik[{i}]: {WrongType("ik[]")}";
                return false;
            }
        }

        if (entry.IsInsurance && entry.Ik.Count == 0)
        {
            error = $"{prefix}ik: an insurance ('isInsurance': true) needs at least one IK number";
            return false;
        }

        domain = entry with { Domain = normalized, TimAnbieter = null };
        error = string.Empty;
        return true;
    }

    /// <summary>What each member must be, for refusals of a value of the wrong JSON type.</summary>
    private static string WrongType(string path) =>
        StrictJson.MemberOf(path) switch
        {
            ("", _) => "the body must be a JSON object with a \"domainList\" array",
            ("domainList", false) => "required, must be an array",
            ("domainList", true) => "must be an object",
            ("version", _) => "must be a non-negative integer",
            ("domain", _) => "must be a string",
            ("telematikID", _) => "must be a non-empty string of at most 256 characters",
            ("isInsurance", _) => "must be true or false",
            ("ik", false) => "must be an array of IK numbers",
            ("ik", true) => "must be a 9-digit IK number as a string",
            ("timAnbieter", _) => "must be a string",
            _ => "has the wrong type",
        };
}
