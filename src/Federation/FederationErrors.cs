using MessengerProxy.Policy;
using MessengerProxy.Policy.Federation;
using Microsoft.Extensions.Primitives;

namespace MessengerProxy.Federation;

/// <summary>The answers for federation refusals, shared by the inbound policies and the outbound proxy.</summary>
internal static class FederationErrors
{
    /// <returns>Null when allowed, otherwise the refusal naming the domain.</returns>
    public static MatrixError? For(FederationCheck check, string serverName, string what) => check.Verdict switch
    {
        FederationVerdict.Allowed => null,
        FederationVerdict.NotFederated => new MatrixError(403, MatrixErrorCode.Forbidden, $"{HostOf(serverName)} is not part of the federation"),
        FederationVerdict.ListUnavailable => new MatrixError(403, MatrixErrorCode.Forbidden, $"Federation is suspended: {check.Detail}"),
        _ => new MatrixError(400, "M_INVALID_PARAM", $"{what}: '{Excerpt(serverName)}' is not a valid Matrix server name"),
    };

    /// <summary>
    /// Reads the one <c>Authorization: X-Matrix</c> header of a federation request; null with the 401 to answer
    /// when there is none, more than one, or it is malformed.
    /// </summary>
    public static MatrixError? ReadXMatrix(StringValues headers, out XMatrixAuthorization authorization)
    {
        authorization = null!;
        var problem = headers.Count == 0 ? "no Authorization header" : "more than one Authorization header";
        return headers.Count == 1 && XMatrixAuthorization.TryParse(headers[0], out authorization, out problem)
            ? null
            : new MatrixError(401, MatrixErrorCode.Unauthorized, $"Missing or malformed X-Matrix authorization: {problem}");
    }

    /// <summary>At most 100 characters of a value the client sent, for an error message.</summary>
    public static string Excerpt(string value) => value.Length <= 100 ? value : value[..100] + "…";

    private static string HostOf(string serverName) =>
        ServerName.TryParse(serverName, out var parsed) ? parsed.Host : serverName;
}
