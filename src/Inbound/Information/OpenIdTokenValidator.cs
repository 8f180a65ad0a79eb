using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Policy.Federation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Information;

internal enum TokenVerdict
{
    Valid,

    /// <summary>The homeserver does not know the token (or it expired).</summary>
    Invalid,

    /// <summary>The homeserver could not say: unreachable, silent, or an answer without a user.</summary>
    Unavailable,
}

internal readonly record struct TokenCheck(TokenVerdict Verdict, string Detail);

/// <summary>
/// Validates Matrix OpenID tokens at the homeserver (<c>GET /_matrix/federation/v1/openid/userinfo</c>, which
/// answers <c>{"sub":"@user:server"}</c> for a live token) and trusts a confirmed token for
/// <c>TimInformation:TokenCacheTtl</c>. Concurrent requests with one token share one look-up. The cache is
/// keyed by the token's SHA-256, so the tokens themselves are not kept; refusals are not cached (a token
/// requested a moment ago must work at once), and unavailability never is.
/// </summary>
internal sealed partial class OpenIdTokenValidator
{
    internal const string HttpClientName = "tim-information-userinfo";

    // {"sub":"@…:…"} – a user ID is at most 255 bytes; anything much longer is not this endpoint's answer.
    private const int MaxAnswerBytes = 16 * 1024;

    private readonly IHttpClientFactory _clients;
    private readonly TimeProvider _time;
    private readonly TimInformationMetrics _metrics;
    private readonly ILogger _logger;
    private readonly string _userInfoUrl;
    private readonly TimeSpan _ttl;
    private readonly int _maxCached;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, DateTimeOffset> _confirmed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task<TokenCheck>> _inFlight = new(StringComparer.Ordinal);
    private volatile string? _lastUnavailable;

    public OpenIdTokenValidator(IHttpClientFactory clients, IOptions<InboundOptions> inbound, IOptions<TimInformationOptions> options,
        TimeProvider time, TimInformationMetrics metrics, ILogger<OpenIdTokenValidator> logger)
    {
        _clients = clients;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _userInfoUrl = inbound.Value.HomeserverUrl.TrimEnd('/') + "/_matrix/federation/v1/openid/userinfo?access_token=";
        _ttl = options.Value.TokenCacheTtl;
        _maxCached = options.Value.MaxCachedTokens;
        metrics.ObserveCachedTokens(() =>
        {
            lock (_gate)
            {
                return _confirmed.Count;
            }
        });
    }

    /// <summary>Why the last look-up could not be answered, until one succeeds again (readiness detail).</summary>
    public string? LastUnavailable => _lastUnavailable;

    public async Task<TokenCheck> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        Task<TokenCheck> lookUp;
        lock (_gate)
        {
            if (_confirmed.TryGetValue(key, out var expires))
            {
                if (expires > _time.GetUtcNow())
                {
                    _metrics.TokenChecked("cached");
                    return new TokenCheck(TokenVerdict.Valid, "cached");
                }

                _confirmed.Remove(key);
            }

            if (!_inFlight.TryGetValue(key, out lookUp!))
            {
                lookUp = LookUpAsync(key, token);
                _inFlight[key] = lookUp;
            }
        }

        return await lookUp.WaitAsync(cancellationToken);
    }

    private async Task<TokenCheck> LookUpAsync(string key, string token)
    {
        // Leaves the lock first, so the removal in finally can never run before the task is registered.
        await Task.Yield();
        try
        {
            var check = await AskHomeserverAsync(token);
            _metrics.TokenChecked(check.Verdict switch
            {
                TokenVerdict.Valid => "valid",
                TokenVerdict.Invalid => "invalid",
                _ => "unavailable",
            });
            if (check.Verdict == TokenVerdict.Unavailable)
            {
                _lastUnavailable = check.Detail;
                LogUserInfoUnavailable(_logger, check.Detail);
            }
            else
            {
                _lastUnavailable = null;
            }

            if (check.Verdict == TokenVerdict.Valid)
            {
                Remember(key);
            }

            return check;
        }
        finally
        {
            lock (_gate)
            {
                _inFlight.Remove(key);
            }
        }
    }

    private void Remember(string key)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_confirmed.Count >= _maxCached)
            {
                foreach (var (stale, expires) in _confirmed)
                {
                    if (expires <= now)
                    {
                        _confirmed.Remove(stale);
                    }
                }
            }

            // Full of live entries: this token is asked about again next time, which costs a request, not memory.
            if (_confirmed.Count < _maxCached)
            {
                _confirmed[key] = now + _ttl;
            }
        }
    }

    private async Task<TokenCheck> AskHomeserverAsync(string token)
    {
        try
        {
            using var response = await _clients.CreateClient(HttpClientName)
                .GetAsync(_userInfoUrl + Uri.EscapeDataString(token), HttpCompletionOption.ResponseHeadersRead);
            var status = (int)response.StatusCode;
            if (status is >= 400 and < 500 && response.StatusCode != HttpStatusCode.TooManyRequests)
            {
                return new TokenCheck(TokenVerdict.Invalid, $"the homeserver refused the token ({status})");
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                return new TokenCheck(TokenVerdict.Unavailable, $"the homeserver answered {status}");
            }

            await using var stream = await response.Content.ReadAsStreamAsync();
            var body = await BoundedRead.ToEndAsync(stream, MaxAnswerBytes, "the userinfo answer", response.Content.Headers.ContentLength, CancellationToken.None);
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("sub", out var sub) && sub.ValueKind == JsonValueKind.String
                && ServerNames.TryGetUserServerName(sub.GetString(), out _)
                ? new TokenCheck(TokenVerdict.Valid, "confirmed by the homeserver")
                : new TokenCheck(TokenVerdict.Unavailable, "the homeserver's userinfo answer has no user ID in \"sub\"");
        }
        catch (TaskCanceledException)
        {
            return new TokenCheck(TokenVerdict.Unavailable, "the homeserver did not answer the userinfo request in time (TimInformation:UserInfoTimeout)");
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or FormatException or IOException)
        {
            return new TokenCheck(TokenVerdict.Unavailable, "userinfo request failed: " + ex.Message);
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "TI-M information API: a token could not be validated: {Reason}", EventName = "TimInformationUserInfoUnavailable")]
    private static partial void LogUserInfoUnavailable(ILogger logger, string reason);
}
