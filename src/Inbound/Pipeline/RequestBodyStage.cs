using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// Reads the body of every request that is not a media upload, whole and bounded, before anything reaches the
/// homeserver: a malformed chunked body, an oversized one or a client that stops half-way is answered here,
/// and the homeserver never sees a request it would only see aborted. A JSON endpoint's body must be JSON
/// (valid UTF-8, no lone surrogate escapes, bounded depth). The buffered bytes are then forwarded with a
/// Content-Length; media uploads keep streaming.
/// </summary>
internal sealed class RequestBodyStage : IInboundPolicy
{
    private readonly int _limit;

    public RequestBodyStage(IOptions<InboundOptions> options) =>
        _limit = (int)Math.Min(options.Value.MaxJsonBodyBytes, Array.MaxLength - 1);

    // Most requests (GETs) have no body: they leave without entering the async path.
    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request) =>
        request.IsPreflight || !request.Endpoint.Traits.BufferBody || !CanHaveBody(context.Request)
            ? ValueTask.FromResult<MatrixError?>(null)
            : BufferAsync(context, request);

    private async ValueTask<MatrixError?> BufferAsync(HttpContext context, InboundRequestFeature request)
    {
        var (body, error) = await BufferedRequestBody.ReadAsync(context, _limit);
        if (error is not null)
        {
            return error;
        }

        context.Response.RegisterForDispose(body!);
        request.Body = body;
        if (request.Endpoint.Body == RequestBodyKind.Json && body!.Length > 0 && BufferedRequestBody.Validate(body.Memory.Span) is { } invalid)
        {
            return invalid;
        }

        // The homeserver gets the bytes that were checked, framed by a length that cannot be misread.
        body!.UseAsRequestBody(context.Request);
        return null;
    }

    private static bool CanHaveBody(HttpRequest request) =>
        request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody
        ?? (request.ContentLength > 0 || request.Headers.ContainsKey(HeaderNames.TransferEncoding));
}
