using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Persistence.Federation;

/// <summary>A complete, consistent version of the federation list.</summary>
internal sealed record FederationListSnapshot(long Version, DateTimeOffset CreatedAt, string Source, IReadOnlyList<FederationDomain> Domains);

/// <summary>Metadata recorded with a new version.</summary>
/// <param name="Jws">The exact compact JWS of a VZD import, kept so the proxies can verify it themselves.</param>
internal sealed record FederationListChange(string Source, long? SourceVersion = null, string? Signer = null, string? Jws = null);

/// <summary>The signed list of the newest VZD import.</summary>
internal sealed record SignedFederationList(long Version, long SourceVersion, string Jws);

internal enum FederationWriteStatus
{
    Created,
    AlreadyPresent,
    NotFound,

    /// <summary>Refused: the write would leave the list without domains, and that was not allowed.</summary>
    WouldLeaveListEmpty,
}

internal readonly record struct FederationWriteResult(FederationWriteStatus Status, long Version);
