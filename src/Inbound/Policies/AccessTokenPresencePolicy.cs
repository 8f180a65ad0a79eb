using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Policies;

/// <summary>
/// Client-server endpoints the spec marks as authenticated are refused without any access token, with the
/// same answer the homeserver would give, so anonymous floods never reach it. Validity of a token is
/// still the homeserver's business.
/// </summary>
internal sealed class AccessTokenPresencePolicy : IInboundPolicy
{
    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        var endpoint = request.Endpoint;
        if (request.IsPreflight || endpoint.Api != MatrixApi.ClientServer || endpoint.Auth != AuthRequirement.Required)
        {
            return ValueTask.FromResult<MatrixError?>(null);
        }

        var authorization = context.Request.Headers[HeaderNames.Authorization];
        var hasBearer = authorization.Count == 1 && authorization[0] is { Length: > 7 } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase);
        var hasQueryToken = RequestTarget.QueryContainsKey(request.Target.Query, "access_token");
        return ValueTask.FromResult(hasBearer || hasQueryToken ? null : MatrixError.MissingToken);
    }
}
