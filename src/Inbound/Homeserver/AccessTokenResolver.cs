using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Forwarding;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Homeserver;

/// <summary>
/// Who is calling: the caller's access token (header or <c>access_token</c> query, as it came) resolved with the
/// homeserver's <c>GET /_matrix/client/v3/account/whoami</c>, cached for <c>Tim:TokenCache:Ttl</c> in at most
/// <c>Tim:TokenCache:MaxEntries</c> entries, keyed by the token's SHA-256 (the cache holds no credentials). A
/// logout through the proxy drops the token (all the user's tokens for <c>/logout/all</c>). A token the homeserver
/// refuses is answered with the homeserver's own refusal and never cached. A cached token that was logged out
/// elsewhere is harmless: the request it came with still reaches the homeserver, which refuses it.
/// </summary>
internal sealed class AccessTokenResolver
{

    private const int MaxWhoamiBytes = 64 * 1024;

    private readonly CallerRequests _requests;
    private readonly TimMetrics _metrics;
    private readonly ILogger _logger;
    private readonly BoundedTtlCache<string, string> _cache;

    public AccessTokenResolver(CallerRequests requests, IOptions<TimOptions> tim, TimeProvider time, TimMetrics metrics, ILogger<AccessTokenResolver> logger)
    {
        _requests = requests;
        _metrics = metrics;
        _logger = logger;
        var cache = tim.Value.TokenCache;
        _cache = new BoundedTtlCache<string, string>(time, cache.Ttl, cache.MaxEntries, StringComparer.Ordinal);
    }

    internal int CachedTokens => _cache.Count;

    /// <summary>The caller's user ID, or the error to answer with (the homeserver's refusal, 502, 504).</summary>
    public async ValueTask<(string? UserId, MatrixError? Error)> ResolveAsync(HttpContext context, InboundRequestFeature request)
    {
        if (CallerToken(context, request) is not { } token)
        {
            return (null, MatrixError.MissingToken);
        }

        var key = Key(token);
        if (_cache.TryGet(key, out var cached))
        {
            _metrics.TokenLookup("cached");
            return (cached, null);
        }

        var answer = await _requests.GetAsync(context, "/_matrix/client/v3/account/whoami", "Bearer " + token, MaxWhoamiBytes, "a whoami answer");
        if (answer.Failure is { } failure)
        {
            return (null, Failed(answer.Reason!, failure));
        }

        if (!answer.IsSuccess)
        {
            _metrics.TokenLookup("refused");
            return (null, HomeserverAnswers.Relay(answer.Status, answer.ContentType?.MediaType, answer.Body, "The homeserver did not accept the access token"));
        }

        if (ReadUserId(answer.Body) is not { } userId)
        {
            return (null, Failed("the whoami answer has no user_id", new MatrixError(502, MatrixErrorCode.Unknown, "The homeserver sent an answer the proxy could not read")));
        }

        _cache.Set(key, userId);
        _metrics.TokenLookup("resolved");
        return (userId, null);
    }

    /// <summary>Drops the caller's token (<c>/logout</c>), or with <paramref name="allOfUser"/> every cached token of its user.</summary>
    public void Forget(HttpContext context, InboundRequestFeature request, bool allOfUser)
    {
        if (CallerToken(context, request) is not { } token)
        {
            return;
        }

        var key = Key(token);
        if (allOfUser && _cache.TryGet(key, out var userId))
        {
            _cache.RemoveWhere(u => u == userId);
        }

        _cache.Remove(key);
    }

    private MatrixError Failed(string reason, MatrixError error)
    {
        _metrics.TokenLookup("failed");
        TimLog.TokenLookupFailed(_logger, reason, error.StatusCode);
        return error;
    }

    /// <summary>The token as the homeserver reads it: the Authorization header first, else the query.</summary>
    internal static string? CallerToken(HttpContext context, InboundRequestFeature request)
    {
        if (context.Request.Headers[HeaderNames.Authorization] is [{ } authorization]
            && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && authorization.Length > 7)
        {
            return authorization[7..].Trim();
        }

        if (request.Target.HasQuery && RequestTarget.QueryValues(request.Target.Query, "access_token") is [var query, ..] && query.Length > 0)
        {
            return query;
        }

        return null;
    }

    private static string Key(string token) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string? ReadUserId(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("user_id", out var userId) && userId.ValueKind == JsonValueKind.String
                && ServerNames.TryGetUserServerName(userId.GetString(), out _)
                ? userId.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Turns a homeserver's refusal into the proxy's answer.</summary>
internal static class HomeserverAnswers
{
    /// <summary>A Matrix error body is relayed as it came (with <c>soft_logout</c> and the like); anything else summarised.</summary>
    public static MatrixError Relay(int status, string? mediaType, ReadOnlyMemory<byte> body, string summary)
    {
        if (mediaType == "application/json" && ReadErrcode(body) is { } errcode)
        {
            return new MatrixError(status, errcode, "relayed from the homeserver") { RelayedBody = body.ToArray() };
        }

        return new MatrixError(status, status == 404 ? MatrixErrorCode.NotFound : MatrixErrorCode.Unknown, summary);
    }

    public static string? ReadErrcode(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body, BufferedRequestBody.DocumentOptions);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("errcode", out var errcode) && errcode.ValueKind == JsonValueKind.String
                ? errcode.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
