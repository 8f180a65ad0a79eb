using MessengerProxy.Federation;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Inbound.Policies;

/// <summary>
/// Inbound federation: the <c>origin</c> of the X-Matrix authorization must be in the federation list. Server-server
/// endpoints the spec leaves unauthenticated (key server, well-known, OpenID userinfo, version) are exempt, unless a
/// TIM override requires X-Matrix for them (<c>/version</c>, A_26331): that override's header is required even
/// while the list is not enforced, since nothing else would ask for it. The signature is verified later, once the
/// body is read (<see cref="XMatrixSignaturePolicy"/>).
/// </summary>
internal sealed class XMatrixOriginPolicy(FederationListCache federation) : IInboundPolicy
{
    public async ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        var traits = request.Endpoint.Traits;
        if (request.IsPreflight || !traits.RequiresXMatrix)
        {
            return null;
        }

        var timOverride = traits.Override is { Kind: TimOverrideKind.XMatrix } row ? row : null;
        if (!federation.Enforced && timOverride is null)
        {
            return null;
        }

        var error = await CheckAsync(context, request);
        if (error is not null && timOverride is not null)
        {
            request.RefusedBy = timOverride.Rule;
        }

        return error;
    }

    private async ValueTask<MatrixError?> CheckAsync(HttpContext context, InboundRequestFeature request)
    {
        if (request.ReadXMatrix(context, out var authorization) is { } unauthorized)
        {
            return unauthorized;
        }

        if (!federation.Enforced)
        {
            return null;
        }

        var check = await federation.CheckAsync(authorization.Origin, context.RequestAborted);
        return check.Verdict == FederationVerdict.InvalidServerName
            ? new MatrixError(401, MatrixErrorCode.Unauthorized, "Malformed X-Matrix authorization: origin is not a Matrix server name")
            : FederationErrors.For(check, authorization.Origin, "origin");
    }
}
