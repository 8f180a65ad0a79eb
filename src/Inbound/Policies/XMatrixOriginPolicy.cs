using MessengerProxy.Federation;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Policies;

/// <summary>
/// Inbound federation: the <c>origin</c> of the X-Matrix authorization must be in the federation list.
/// Server-server endpoints the spec leaves unauthenticated (key server, well-known, OpenID userinfo,
/// version) are exempt. The signature is the homeserver's to verify.
/// </summary>
internal sealed class XMatrixOriginPolicy(FederationListCache federation) : IInboundPolicy
{
    public async ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        var endpoint = request.Endpoint;
        if (request.IsPreflight || endpoint.Api != MatrixApi.ServerServer || endpoint.Auth != AuthRequirement.Required || !federation.Enforced)
        {
            return null;
        }

        if (FederationErrors.ReadXMatrix(context.Request.Headers[HeaderNames.Authorization], out var authorization) is { } unauthorized)
        {
            return unauthorized;
        }

        var check = await federation.CheckAsync(authorization.Origin, context.RequestAborted);
        return check.Verdict == FederationVerdict.InvalidServerName
            ? new MatrixError(401, MatrixErrorCode.Unauthorized, "Malformed X-Matrix authorization: origin is not a Matrix server name")
            : FederationErrors.For(check, authorization.Origin, "origin");
    }
}
