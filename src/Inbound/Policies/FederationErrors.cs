using MessengerProxy.Federation;
using MessengerProxy.Policy;

namespace MessengerProxy.Inbound.Policies;

/// <summary>The answers for federation refusals, shared by the origin and the client-side checks.</summary>
internal static class FederationErrors
{
    /// <returns>Null when allowed, otherwise the refusal naming the domain.</returns>
    public static MatrixError? For(FederationCheck check, string serverName, string what) => check.Verdict switch
    {
        FederationVerdict.Allowed => null,
        FederationVerdict.NotFederated => new MatrixError(403, MatrixErrorCode.Forbidden, $"{HostOf(serverName)} is not part of the federation"),
        FederationVerdict.ListUnavailable => new MatrixError(403, MatrixErrorCode.Forbidden, $"Federation is suspended: {check.Detail}"),
        _ => new MatrixError(400, "M_INVALID_PARAM", $"{what}: '{Truncate(serverName)}' is not a valid Matrix server name"),
    };

    private static string HostOf(string serverName) =>
        MessengerProxy.Policy.Federation.ServerNames.TryGetHost(serverName, out var host) ? host.ToString().ToLowerInvariant() : serverName;

    private static string Truncate(string value) => value.Length <= 100 ? value : value[..100] + "…";
}
