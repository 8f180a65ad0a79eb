using System.Text.Json.Nodes;

namespace MessengerProxy.Policy.Versions;

/// <summary>
/// Something the proxy itself offers and announces in <c>/_matrix/client/versions</c> (e.g. the MSC3079
/// front door), whichever transport the request came by. It lives here, below the inbound pipeline that
/// writes <c>/versions</c> and the front doors that announce themselves, so neither needs the other for it.
/// </summary>
internal interface IVersionsAdvertisement
{
    /// <summary>Top-level members to add, replacing the homeserver's members of the same names.</summary>
    IEnumerable<KeyValuePair<string, JsonNode>> Members { get; }
}
