using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Pipeline.Http;

/// <summary>Writes the proxy's own answers: Matrix error bodies and small JSON documents, with CORS headers.</summary>
internal static class MatrixResponses
{
    public static Task WriteErrorAsync(HttpContext context, MatrixError error, string? allow = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            // Too late for a clean answer; cutting the connection is the only honest signal left.
            context.Abort();
            return Task.CompletedTask;
        }

        response.StatusCode = error.StatusCode;
        if (allow is not null)
        {
            response.Headers.Allow = allow;
        }

        response.Headers.CacheControl = "no-store";
        return WriteJsonAsync(context, error.ToUtf8Json());
    }

    public static Task WriteJsonAsync(HttpContext context, byte[] utf8Json)
    {
        var response = context.Response;
        response.ContentType = "application/json";
        response.ContentLength = utf8Json.Length;
        AddCorsHeaders(response.Headers);
        return HttpMethods.IsHead(context.Request.Method)
            ? Task.CompletedTask
            : response.Body.WriteAsync(utf8Json, context.RequestAborted).AsTask();
    }

    /// <summary>The headers the spec asks every response to carry so browser clients can read it.</summary>
    public static void AddCorsHeaders(IHeaderDictionary headers)
    {
        headers[HeaderNames.AccessControlAllowOrigin] = "*";
        headers[HeaderNames.AccessControlAllowMethods] = "GET, POST, PUT, DELETE, OPTIONS";
        headers[HeaderNames.AccessControlAllowHeaders] = "X-Requested-With, Content-Type, Authorization, " + TimUserAgentCors.HeaderName;
    }
}
