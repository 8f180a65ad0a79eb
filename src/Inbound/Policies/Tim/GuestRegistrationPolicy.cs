using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Inbound.Policies.Tim;

/// <summary>
/// No guest accounts (rule <c>guest-registration</c>): <c>POST /register?kind=guest</c> is refused before its body
/// is read. The query is decoded as the homeserver decodes it, so <c>kind=%67uest</c> and <c>%6Bind=guest</c> are
/// guests too.
/// </summary>
internal sealed class GuestRegistrationPolicy : IInboundPolicy
{
    private static readonly MatrixError s_refusal = new(403, MatrixErrorCode.Forbidden, "Guest access is disabled");

    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        if (request.IsPreflight || request.Endpoint.Traits.TimContent != TimContent.Registration || !request.Target.HasQuery)
        {
            return ValueTask.FromResult<MatrixError?>(null);
        }

        foreach (var kind in RequestTarget.QueryValues(request.Target.Query, "kind"))
        {
            if (kind == "guest")
            {
                request.RefusedBy = TimRules.GuestRegistration;
                return ValueTask.FromResult<MatrixError?>(s_refusal);
            }
        }

        return ValueTask.FromResult<MatrixError?>(null);
    }
}
