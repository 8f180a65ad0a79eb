using System.Globalization;
using MessengerProxy.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Registration.Api;

/// <summary>
/// The service's one mapping from an exception that left an endpoint to a Matrix error, so no client ever
/// sees an exception trace:
/// <list type="bullet">
/// <item>a database that cannot serve now (<see cref="DatabaseFailures.IsUnavailable"/>): <c>503 M_UNKNOWN</c>
/// with <c>Retry-After</c>; nothing was written, the request can be repeated unchanged;</item>
/// <item>a request Kestrel refused while reading it (<see cref="BadHttpRequestException"/>): its status;</item>
/// <item>anything else: <c>500 M_UNKNOWN</c>.</item>
/// </list>
/// Bodies that are not usable JSON never get here: the parsers refuse them with 400 M_BAD_JSON.
/// </summary>
internal sealed class ApiExceptionHandler(ILogger<ApiExceptionHandler> logger)
{
    /// <summary>Seconds a client should wait before repeating a request the database could not serve.</summary>
    public const int DatabaseRetryAfterSeconds = 5;

    public ExceptionHandlerOptions CreateOptions() => new()
    {
        ExceptionHandler = HandleAsync,

        // An unreachable database is an operating condition, logged once below as a warning, not an
        // unhandled error with a stack trace for every request.
        SuppressDiagnosticsCallback = context => DatabaseFailures.IsUnavailable(context.Exception),
    };

    private Task HandleAsync(HttpContext context)
    {
        var exception = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        if (exception is not null && DatabaseFailures.IsUnavailable(exception))
        {
            Log.DatabaseUnavailable(logger, context.Request.Method, context.Request.Path, exception.GetBaseException().Message);
            context.Response.Headers.RetryAfter = DatabaseRetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return ApiResults.Error(503, "M_UNKNOWN", "Database unavailable; retry later").ExecuteAsync(context);
        }

        var status = exception is BadHttpRequestException bad ? bad.StatusCode : 500;
        return ApiResults.Error(status, ApiResults.ErrorCodeFor(status), status == 500 ? "Internal error" : "Bad request").ExecuteAsync(context);
    }
}
