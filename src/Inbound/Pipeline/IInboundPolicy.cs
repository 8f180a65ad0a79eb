using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// A check every allowlisted request passes before it is answered or forwarded, whichever front door
/// (HTTP or CoAP) it came through. Policies run in registration order; the first error wins.
/// </summary>
internal interface IInboundPolicy
{
    /// <returns><c>null</c> to let the request continue, or the error to answer with.</returns>
    ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request);
}
