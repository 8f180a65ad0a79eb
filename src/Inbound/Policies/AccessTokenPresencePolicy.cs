using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Policies;

/// <summary>
/// Client-server endpoints the spec marks as authenticated, and those a TIM override requires a token for
/// (<see cref="EndpointTraits.RequiresAccessToken"/>), are refused without any access token, with the same answer
/// the homeserver would give, so anonymous floods never reach it. Validity of a token is still the homeserver's
/// business.
/// </summary>
internal sealed class AccessTokenPresencePolicy : IInboundPolicy
{
    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        var traits = request.Endpoint.Traits;
        if (request.IsPreflight || !traits.RequiresAccessToken)
        {
            return ValueTask.FromResult<MatrixError?>(null);
        }

        var authorization = context.Request.Headers[HeaderNames.Authorization];
        var hasBearer = authorization.Count == 1 && authorization[0] is { Length: > 7 } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase);
        var hasQueryToken = RequestTarget.QueryContainsKey(request.Target.Query, "access_token");
        if (hasBearer || hasQueryToken)
        {
            return ValueTask.FromResult<MatrixError?>(null);
        }

        if (traits.Override is { Kind: TimOverrideKind.AccessToken } row)
        {
            request.RefusedBy = row.Rule;
        }

        return ValueTask.FromResult<MatrixError?>(MatrixError.MissingToken);
    }
}
