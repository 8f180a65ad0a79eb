using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Policies;

/// <summary>
/// Media uploads may be large, everything else is JSON of bounded size. A declared length over the limit is
/// refused before a byte of the body is read; a chunked body is cut off by the server when it crosses it.
/// </summary>
internal sealed class BodySizePolicy : IInboundPolicy
{
    private readonly long _jsonLimit;
    private readonly long _uploadLimit;

    public BodySizePolicy(IOptions<InboundOptions> options)
    {
        _jsonLimit = options.Value.MaxJsonBodyBytes;
        _uploadLimit = options.Value.MaxUploadBodyBytes;
    }

    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        var limit = request.Endpoint.Body == RequestBodyKind.Binary ? _uploadLimit : _jsonLimit;
        if (context.Request.ContentLength > limit)
        {
            // Closing the connection keeps the server from draining the unwanted body after the answer.
            context.Response.Headers.Connection = "close";
            return ValueTask.FromResult<MatrixError?>(new MatrixError(413, MatrixErrorCode.TooLarge, $"Request body is larger than the limit of {limit} bytes"));
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = limit;
        }

        return ValueTask.FromResult<MatrixError?>(null);
    }
}
