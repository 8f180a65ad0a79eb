using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Registration.Api;

/// <summary>Answers in the same error format as the proxy: <c>{"errcode":"M_…","error":"…"}</c>.</summary>
internal static class ApiResults
{
    public static IResult Error(int status, string errcode, string message) =>
        Results.Json(new ErrorBody(errcode, message), RegistrationJsonContext.Default.ErrorBody, statusCode: status);

    public static IResult BadJson(string message) => Error(400, "M_BAD_JSON", message);

    public static IResult Json(byte[] utf8Json, int status = 200) => new RawJsonResult(utf8Json, status);

    public static string ErrorCodeFor(int status) => status switch
    {
        401 => "M_UNAUTHORIZED",
        403 => "M_FORBIDDEN",
        404 => "M_NOT_FOUND",
        405 => "M_UNRECOGNIZED",
        413 => "M_TOO_LARGE",
        415 => "M_NOT_JSON",
        _ when status >= 500 => "M_UNKNOWN",
        _ => "M_UNRECOGNIZED",
    };

    /// <summary>
    /// Reads an optional boolean query parameter (<c>?name=true</c> or <c>false</c>; absent is false). Anything
    /// else, or the parameter given twice, is refused rather than guessed at: these flags permit writes that
    /// are otherwise refused.
    /// </summary>
    public static bool TryReadFlag(HttpContext context, string name, out bool value, [NotNullWhen(false)] out IResult? error)
    {
        value = false;
        error = null;
        var values = context.Request.Query[name];
        if (values.Count == 0)
        {
            return true;
        }

        if (values.Count == 1 && values[0] is ("true" or "false"))
        {
            value = values[0] == "true";
            return true;
        }

        error = Error(400, "M_INVALID_PARAM", $"{name}: must be true or false");
        return false;
    }

    /// <summary>Reads the whole body up to the configured limit; null and an error result when it is too large or unreadable.</summary>
    public static async Task<(byte[]? Body, IResult? Error)> ReadBodyAsync(HttpContext context)
    {
        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            return (buffer.ToArray(), null);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Error(413, "M_TOO_LARGE", "Request body is larger than Registration:MaxBodyBytes"));
        }
    }

    internal sealed record ErrorBody(string errcode, string error);

    /// <summary>Pre-serialised JSON with a status code.</summary>
    private sealed class RawJsonResult(byte[] body, int status) : IResult, IStatusCodeHttpResult
    {
        public int? StatusCode => status;

        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = status;
            httpContext.Response.ContentType = "application/json";
            httpContext.Response.ContentLength = body.Length;
            return httpContext.Response.Body.WriteAsync(body, httpContext.RequestAborted).AsTask();
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(ApiResults.ErrorBody))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Admin.VersionBody))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Admin.ImportBody))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Admin.ListInfoBody))]
internal sealed partial class RegistrationJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
