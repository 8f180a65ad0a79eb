using MessengerProxy.Pipeline.Http;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// A successful answer a stage gives in place of the homeserver (e.g. the default permission configuration where
/// the homeserver has none), written after every stage has passed; counted as <c>answered</c>.
/// </summary>
internal sealed record LocalAnswer(int StatusCode, string ContentType, byte[] Body)
{
    public Task WriteAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCode;
        response.Headers.CacheControl = "no-store";
        MatrixResponses.AddCorsHeaders(response.Headers);
        response.ContentType = ContentType;
        response.ContentLength = Body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(Body, context.RequestAborted).AsTask();
    }
}
