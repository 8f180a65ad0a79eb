using System.Security.Cryptography;
using System.Text;
using MessengerProxy.Registration.Api;
using MessengerProxy.Registration.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Registration.Admin;

/// <summary>
/// Guards the admin API with the configured bearer token. Tokens are compared as SHA-256 digests in
/// constant time, so neither their content nor their length leaks through timing.
/// </summary>
internal sealed class AdminTokenFilter : IEndpointFilter
{
    private readonly byte[] _expected;
    private readonly ILogger _logger;

    public AdminTokenFilter(IOptions<RegistrationOptions> options, ILogger<AdminTokenFilter> logger)
    {
        _expected = SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.AdminToken));
        _logger = logger;
    }

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var header = http.Request.Headers[HeaderNames.Authorization];
        if (header.Count != 1 || header[0] is not { } value || !value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            Log.AdminRefused(_logger, http.Request.Method, http.Request.Path, "no bearer token");
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return ApiResults.Error(401, "M_MISSING_TOKEN", "The admin API needs Authorization: Bearer <Registration:AdminToken>");
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(value["Bearer ".Length..].Trim()));
        if (!CryptographicOperations.FixedTimeEquals(presented, _expected))
        {
            Log.AdminRefused(_logger, http.Request.Method, http.Request.Path, "wrong bearer token");
            http.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
            return ApiResults.Error(401, "M_UNKNOWN_TOKEN", "Wrong admin token");
        }

        var result = await next(context);
        Log.AdminRequest(_logger, http.Request.Method, http.Request.Path, (result as IStatusCodeHttpResult)?.StatusCode ?? http.Response.StatusCode);
        return result;
    }
}
