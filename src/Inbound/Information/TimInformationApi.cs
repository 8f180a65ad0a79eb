using System.Buffers;
using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Information;

/// <summary>
/// The TI-M information API (gematik TiMessengerInformation 1.0.0) on its own listener, answered from the
/// federation list the proxy already holds:
/// <code>
///   GET /tim-information                                  {"title","description"?,"contact"?,"version"}
///   GET /tim-information/v1/server/findByIk?ikNumber=     {"serverName"}   404 when no insurance has the IK
///   GET /tim-information/v1/server/isInsurance?serverName= {"isInsurance"}  false for a server not in the list
/// </code>
/// Every operation needs <c>Authorization: Bearer &lt;Matrix OpenID token&gt;</c> (the yaml's security applies to
/// all of them), validated at the homeserver. Errors are the API's own <c>{"errorCode","errorMessage"}</c>, with
/// the status as the code, as in the reference.
/// </summary>
internal sealed partial class TimInformationApi
{
    public const string ApiVersion = "1.0.0";

    // RFC 6750 b64token: the only characters a bearer token may have; anything else is malformed, never sent on.
    private static readonly SearchValues<char> s_tokenCharacters =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=");
    private const int MaxTokenLength = 4096;

    private readonly OpenIdTokenValidator _tokens;
    private readonly FederationListCache _federation;
    private readonly TimeProvider _time;
    private readonly TimInformationMetrics _metrics;
    private readonly ILogger _logger;
    private readonly byte[] _info;

    public TimInformationApi(OpenIdTokenValidator tokens, FederationListCache federation, TimeProvider time, TimInformationMetrics metrics,
        IOptions<TimInformationOptions> options, ILogger<TimInformationApi> logger)
    {
        _tokens = tokens;
        _federation = federation;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        var o = options.Value;
        _info = Json(w =>
        {
            w.WriteString("title", o.Title);
            if (!string.IsNullOrEmpty(o.Description))
            {
                w.WriteString("description", o.Description);
            }

            if (!string.IsNullOrEmpty(o.Contact))
            {
                w.WriteString("contact", o.Contact);
            }

            w.WriteString("version", ApiVersion);
        });
    }

    private enum Operation
    {
        Info,
        FindByIk,
        IsInsurance,
        Unknown,
    }

    /// <summary>The federation list if it may be answered from: loaded and confirmed within <c>Federation:MaxAge</c>.</summary>
    internal static FederationList? UsableList(FederationListCache cache, TimeProvider time) =>
        cache.Current is { } list && cache.ConfirmedAt is { } confirmedAt && time.GetUtcNow() - confirmedAt <= cache.MaxAge ? list : null;

    public async Task InvokeAsync(HttpContext context)
    {
        var operation = (context.Request.Path.Value ?? string.Empty) switch
        {
            "/tim-information" or "/tim-information/" => Operation.Info,
            "/tim-information/v1/server/findByIk" => Operation.FindByIk,
            "/tim-information/v1/server/isInsurance" => Operation.IsInsurance,
            _ => Operation.Unknown,
        };

        try
        {
            await HandleAsync(context, operation);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        finally
        {
            _metrics.RequestCompleted(Label(operation), context.Response.StatusCode);
        }
    }

    private async Task HandleAsync(HttpContext context, Operation operation)
    {
        if (operation == Operation.Unknown)
        {
            await ErrorAsync(context, operation, 404, "Unknown resource of the TI-M information API");
            return;
        }

        var method = context.Request.Method;
        if (HttpMethods.IsOptions(method))
        {
            // A browser's CORS preflight carries no credentials; the request that follows does.
            MatrixResponses.AddCorsHeaders(context.Response.Headers);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        if (!HttpMethods.IsGet(method))
        {
            context.Response.Headers.Allow = "GET, OPTIONS";
            await ErrorAsync(context, operation, 405, "Only GET is supported");
            return;
        }

        if (!TryGetBearerToken(context.Request.Headers.Authorization, out var token, out var why))
        {
            await UnauthorizedAsync(context, operation, why);
            return;
        }

        var check = await _tokens.ValidateAsync(token, context.RequestAborted);
        switch (check.Verdict)
        {
            case TokenVerdict.Invalid:
                await UnauthorizedAsync(context, operation, "The Matrix OpenID token is not valid");
                return;
            case TokenVerdict.Unavailable:
                await ErrorAsync(context, operation, 503, "The token cannot be validated now; try again later");
                return;
        }

        if (operation == Operation.Info)
        {
            await WriteAsync(context, 200, _info);
            return;
        }

        var parameterName = operation == Operation.FindByIk ? "ikNumber" : "serverName";
        if (!TryGetSingleParameter(context.Request.Query, parameterName, out var value, out why))
        {
            await ErrorAsync(context, operation, 400, why);
            return;
        }

        if (operation == Operation.FindByIk && !IsIkNumber(value))
        {
            await ErrorAsync(context, operation, 400, "ikNumber must be an IK number of 9 digits");
            return;
        }

        if (operation == Operation.IsInsurance && !ServerNames.TryGetHost(value, out _))
        {
            await ErrorAsync(context, operation, 400, "serverName is not a Matrix server name");
            return;
        }

        if (UsableList(_federation, _time) is not { } list)
        {
            await ErrorAsync(context, operation, 503, "No usable federation list is available");
            return;
        }

        if (operation == Operation.FindByIk)
        {
            if (list.TryFindInsurerByIk(value, out var domain))
            {
                await WriteAsync(context, 200, Json(w => w.WriteString("serverName", domain)));
            }
            else
            {
                await ErrorAsync(context, operation, 404, "No insurance with this IK number is in the federation list");
            }

            return;
        }

        // The yaml defines no 404 here: a server the list does not hold is no insurance's.
        ServerNames.TryGetHost(value, out var host);
        var isInsurance = list.TryGetEntry(host, out var entry) && entry.IsInsurance;
        await WriteAsync(context, 200, isInsurance ? "{\"isInsurance\":true}"u8.ToArray() : "{\"isInsurance\":false}"u8.ToArray());
    }

    private static bool TryGetBearerToken(StringValues header, out string token, out string why)
    {
        token = string.Empty;
        if (header.Count == 0 || string.IsNullOrEmpty(header[0]))
        {
            why = "A Matrix OpenID token is required (Authorization: Bearer …)";
            return false;
        }

        var value = header[0].AsSpan().Trim();
        const string Scheme = "Bearer ";
        if (header.Count > 1 || !value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            why = "The Authorization header must be one 'Bearer <token>'";
            return false;
        }

        var candidate = value[Scheme.Length..].TrimStart(' ');
        if (candidate.IsEmpty || candidate.Length > MaxTokenLength || candidate.ContainsAnyExcept(s_tokenCharacters))
        {
            why = "The bearer token is malformed";
            return false;
        }

        token = candidate.ToString();
        why = string.Empty;
        return true;
    }

    private static bool TryGetSingleParameter(IQueryCollection query, string name, out string value, out string why)
    {
        value = string.Empty;
        if (!query.TryGetValue(name, out var values) || values.Count == 0 || string.IsNullOrWhiteSpace(values[0]))
        {
            why = $"The query parameter {name} is required";
            return false;
        }

        if (values.Count > 1)
        {
            why = $"The query parameter {name} must be given once";
            return false;
        }

        value = values[0]!;
        why = string.Empty;
        return true;
    }

    private static bool IsIkNumber(string value) => value.Length == 9 && !value.AsSpan().ContainsAnyExceptInRange('0', '9');

    private Task UnauthorizedAsync(HttpContext context, Operation operation, string message)
    {
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return ErrorAsync(context, operation, 401, message);
    }

    private Task ErrorAsync(HttpContext context, Operation operation, int status, string message)
    {
        LogRefused(_logger, Label(operation), status, message);
        return WriteAsync(context, status, Json(w =>
        {
            w.WriteString("errorCode", status.ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("errorMessage", message);
        }));
    }

    private static Task WriteAsync(HttpContext context, int status, byte[] json)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.Headers.CacheControl = "no-store";
        response.ContentType = "application/json";
        response.ContentLength = json.Length;
        MatrixResponses.AddCorsHeaders(response.Headers);
        return response.Body.WriteAsync(json, context.RequestAborted).AsTask();
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static string Label(Operation operation) => operation switch
    {
        Operation.Info => "info",
        Operation.FindByIk => "findByIk",
        Operation.IsInsurance => "isInsurance",
        _ => "unknown",
    };

    // The message never holds the token, the IK or the server name asked about.
    [LoggerMessage(2, LogLevel.Debug, "TI-M information API {Operation}: {Status} {Reason}", EventName = "TimInformationRefused")]
    private static partial void LogRefused(ILogger logger, string operation, int status, string reason);
}
