using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Inbound.Policies.Tim;

/// <summary>
/// Endpoints the TIM rulebook answers itself (rows of kind <c>answer</c> in <c>tim-overrides.tsv</c>: federation
/// <c>publicRooms</c>, URL previews, <c>login/get_token</c>, <c>threads</c>): the fixed answer, before anything
/// else is looked at. Preflights still pass, so browsers learn the answer from the request itself.
/// </summary>
internal sealed class TimAnswerPolicy : IInboundPolicy
{
    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        if (request.IsPreflight || request.Endpoint.Traits.Override is not { Kind: TimOverrideKind.Answer } row)
        {
            return ValueTask.FromResult<MatrixError?>(null);
        }

        request.RefusedBy = row.Rule;
        return ValueTask.FromResult(row.Answer);
    }
}
