using MessengerProxy.Federation;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Inbound.Policies;

/// <summary>
/// Inbound federation transactions: the body the request-body stage read is scanned (<see cref="TransactionDomainCheck"/>)
/// and refused whole, before the homeserver sees any of it, when a PDU or EDU names a server outside the
/// federation. Which endpoint carries a transaction is a trait (<see cref="Policy.Endpoints.EndpointTraits.FederationTransaction"/>).
/// </summary>
internal sealed class TransactionDomainPolicy(TransactionDomainCheck transactions) : IInboundPolicy
{
    public const string Direction = "inbound";

    // Every request but a transaction leaves without entering the async path.
    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request) =>
        request.IsPreflight || !request.Endpoint.Traits.FederationTransaction || !transactions.Enabled || request.Body is not { Length: > 0 } body
            ? ValueTask.FromResult<MatrixError?>(null)
            : CheckAsync(context, body);

    private async ValueTask<MatrixError?> CheckAsync(HttpContext context, BufferedRequestBody body) =>
        (await transactions.CheckAsync(body.Memory, Direction, context.RequestAborted))?.Error;
}
