using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Pipeline.Http;

/// <summary>
/// Lets browser clients send <c>X-TIM-User-Agent</c> (the TIM client identification): the proxy's own answers list
/// it (<see cref="MatrixResponses.AddCorsHeaders"/>), and a preflight the homeserver answers gets it appended to
/// the homeserver's <c>Access-Control-Allow-Headers</c>, which knows nothing of TIM. Only preflights: browsers read
/// that header nowhere else (Fetch standard, CORS-preflight fetch).
/// </summary>
internal static class TimUserAgentCors
{
    public const string HeaderName = "X-TIM-User-Agent";

    public static Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            context.Response.OnStarting(static state =>
            {
                var headers = ((HttpContext)state).Response.Headers;
                var allowed = headers.AccessControlAllowHeaders.ToString();
                if (allowed.Length > 0 && allowed != "*" && !allowed.Contains(HeaderName, StringComparison.OrdinalIgnoreCase))
                {
                    headers[HeaderNames.AccessControlAllowHeaders] = allowed + ", " + HeaderName;
                }

                return Task.CompletedTask;
            }, context);
        }

        return next(context);
    }
}
