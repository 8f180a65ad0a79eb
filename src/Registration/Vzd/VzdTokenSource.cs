using System.Net.Http.Headers;
using System.Text.Json;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Registration.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Registration.Vzd;

/// <summary>What readiness reports about the VZD authentication.</summary>
internal sealed record VzdAuthenticationStatus(
    DateTimeOffset? IssuedAt,
    DateTimeOffset? RenewAt,
    DateTimeOffset? FailedAt,
    VzdAuthenticationFailure? Failure,
    string? FailureDetail);

/// <summary>
/// The provider token for the VZD's <c>/tim-provider-services</c>, as gematik api-vzd defines it
/// (<c>docs/FHIR_VZD_HOWTO_Authenticate.adoc</c>, <c>I_VZD_TI_Provider_Authenticate_Service</c>): a client-credentials
/// grant (RFC 6749 §4.4, secret in the form, §2.3.1) at the TI-Provider realm gives a ti-provider access token,
/// which <c>GET {ServiceUrl}/ti-provider-authenticate</c> exchanges for the provider token; both answers are
/// <c>{"access_token","token_type":"Bearer","expires_in"}</c>. The provider token (the VZD gives it 24 h) is reused
/// until <see cref="VzdOptions.TokenRefreshMargin"/> before its <c>expires_in</c>; one without <c>expires_in</c> is
/// used once. Concurrent callers share one renewal, and a token the VZD refuses is renewed once
/// (<see cref="Reject"/>), however many callers saw the refusal.
/// </summary>
internal sealed class VzdTokenSource : IAsyncDisposable, IDisposable
{
    public const string HttpClientName = "MessengerProxy.Vzd.Auth";

    private const int MaxAnswerBytes = 64 * 1024;

    // expires_in only schedules the renewal; a larger value is read as this so the arithmetic cannot overflow.
    private static readonly TimeSpan s_maxLifetime = TimeSpan.FromDays(30);

    private static readonly Step s_tokenStep = new("token endpoint", VzdAuthenticationFailure.TokenEndpointUnreachable,
        VzdAuthenticationFailure.TokenEndpointStatus, VzdAuthenticationFailure.TokenEndpointBadResponse);

    private static readonly Step s_authenticateStep = new("ti-provider-authenticate endpoint", VzdAuthenticationFailure.AuthenticateUnreachable,
        VzdAuthenticationFailure.AuthenticateStatus, VzdAuthenticationFailure.AuthenticateBadResponse);

    private readonly IHttpClientFactory _clients;
    private readonly VzdOptions _options;
    private readonly TimeProvider _time;
    private readonly VzdMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private Token? _current;
    private Task<Token>? _renewal;
    private VzdAuthenticationStatus _status = new(null, null, null, null, null);

    public VzdTokenSource(IHttpClientFactory clients, IOptions<RegistrationOptions> options, TimeProvider time, VzdMetrics metrics, ILogger<VzdTokenSource> logger)
    {
        _clients = clients;
        _options = options.Value.Vzd;
        _time = time;
        _metrics = metrics;
        _logger = logger;
    }

    public bool IsConfigured => _options.UsesClientCredentials;

    public VzdAuthenticationStatus Status
    {
        get
        {
            lock (_gate)
            {
                return _status;
            }
        }
    }

    /// <summary>The provider token: the one held while it is fresh, otherwise the result of one (shared) renewal.</summary>
    /// <exception cref="VzdAuthenticationException">The renewal failed; the next call tries again.</exception>
    public async Task<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        Task<Token> renewal;
        lock (_gate)
        {
            if (_current is { } current && _time.GetUtcNow() < current.RenewAt)
            {
                return current.Value;
            }

            // A finished renewal that left no fresh token failed (or its token is used up): start the next one.
            // Task.Run: the renewal reads the secret file and must not do so under the lock.
            if (_renewal is null || _renewal.IsCompleted)
            {
                _renewal = Task.Run(RenewAsync);
            }

            renewal = _renewal;
        }

        return (await renewal.WaitAsync(cancellationToken)).Value;
    }

    /// <summary>
    /// The VZD answered 401 to <paramref name="refused"/>: it is dropped, unless another caller has already replaced
    /// it, so the next <see cref="GetTokenAsync"/> renews once for every caller that saw the same refusal.
    /// </summary>
    public void Reject(string refused)
    {
        lock (_gate)
        {
            if (_current?.Value != refused)
            {
                return;
            }

            _current = null;
        }

        _metrics.TokenRejected();
        VzdLog.TokenRejected(_logger);
    }

    /// <summary>The VZD refused a freshly renewed token too: the credentials are not (or no longer) authorised.</summary>
    public void ReportRefused(int statusCode) =>
        Fail(new VzdAuthenticationException(VzdAuthenticationFailure.Refused, $"the VZD answered {statusCode} to a freshly issued token as well"));

    public void Dispose()
    {
        _stopping.Cancel();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        Task? renewal;
        lock (_gate)
        {
            renewal = _renewal;
        }

        if (renewal is not null)
        {
            // Its outcome belongs to callers that are gone; only its end is waited for.
            await renewal.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    // Not tied to one caller's cancellation: the renewal is shared by everyone waiting for it; it ends with the host.
    private async Task<Token> RenewAsync()
    {
        var started = _time.GetUtcNow();
        try
        {
            if (!VzdClientSecret.TryRead(_options, out var secret, out var why))
            {
                throw new VzdAuthenticationException(VzdAuthenticationFailure.SecretUnreadable, why);
            }

            var client = _clients.CreateClient(HttpClientName);
            var tokenUri = _options.TokenUrl!.TrimEnd('/') + _options.TokenPath;
            using var grant = new HttpRequestMessage(HttpMethod.Post, tokenUri)
            {
                Content = new FormUrlEncodedContent(
                [
                    new("grant_type", "client_credentials"),
                    new("client_id", _options.ClientId!),
                    new("client_secret", secret),
                ]),
            };
            var access = await SendAsync(client, grant, s_tokenStep, secret);

            using var exchange = new HttpRequestMessage(HttpMethod.Get, _options.ServiceUrl!.TrimEnd('/') + "/ti-provider-authenticate");
            exchange.Headers.Authorization = new AuthenticationHeaderValue("Bearer", access.Value);
            var provider = await SendAsync(client, exchange, s_authenticateStep, secret);

            var usable = provider.Lifetime is { } lifetime ? lifetime - Min(_options.TokenRefreshMargin, lifetime / 2) : TimeSpan.Zero;
            var token = new Token(provider.Value, started + usable);
            lock (_gate)
            {
                _current = token;
                _status = _status with { IssuedAt = started, RenewAt = token.RenewAt };
            }

            _metrics.TokenIssued();
            VzdLog.TokenIssued(_logger, (long)usable.TotalSeconds, provider.Lifetime is { } l ? (long)l.TotalSeconds : null);
            return token;
        }
        catch (VzdAuthenticationException ex)
        {
            Fail(ex);
            throw;
        }
    }

    private void Fail(VzdAuthenticationException failure)
    {
        lock (_gate)
        {
            _status = _status with { FailedAt = _time.GetUtcNow(), Failure = failure.Failure, FailureDetail = failure.Detail };
        }

        _metrics.Failed(failure.Failure);
        VzdLog.AuthenticationFailed(_logger, VzdAuthenticationException.Label(failure.Failure), failure.Detail);
    }

    private async Task<Answer> SendAsync(HttpClient client, HttpRequestMessage request, Step step, string secret)
    {
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stopping.Token);
        }
        catch (HttpRequestException ex)
        {
            throw new VzdAuthenticationException(step.Unreachable, $"the {step.Name} is unreachable: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!_stopping.IsCancellationRequested)
        {
            throw new VzdAuthenticationException(step.Unreachable, $"the {step.Name} did not answer within {client.Timeout}", ex);
        }

        using (response)
        {
            ReadOnlyMemory<byte> body;
            try
            {
                body = await BoundedRead.ToEndAsync(await response.Content.ReadAsStreamAsync(_stopping.Token), MaxAnswerBytes, "the answer", response.Content.Headers.ContentLength, _stopping.Token);
            }
            catch (FormatException ex)
            {
                throw new VzdAuthenticationException(step.BadResponse, $"the {step.Name} answered {(int)response.StatusCode}; {ex.Message}");
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is TaskCanceledException && !_stopping.IsCancellationRequested))
            {
                throw new VzdAuthenticationException(step.Unreachable, $"the {step.Name}'s answer broke off: {ex.Message}", ex);
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new VzdAuthenticationException(step.Status, $"the {step.Name} answered {(int)response.StatusCode}{OAuthError(body.Span, secret)}");
            }

            return Parse(body.Span, step);
        }
    }

    private static Answer Parse(ReadOnlySpan<byte> body, Step step)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.ToArray());
        }
        catch (JsonException)
        {
            throw new VzdAuthenticationException(step.BadResponse, $"the {step.Name} answered 200 with something other than JSON");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new VzdAuthenticationException(step.BadResponse, $"the {step.Name} answered 200 with JSON that is not an object");
            }

            if (!root.TryGetProperty("access_token", out var accessToken) || accessToken.ValueKind != JsonValueKind.String || accessToken.GetString() is not { Length: > 0 } value)
            {
                throw new VzdAuthenticationException(step.BadResponse, $"the {step.Name} answered 200 without an access_token string");
            }

            if (!IsBearerToken(value))
            {
                throw new VzdAuthenticationException(step.BadResponse, $"the {step.Name}'s access_token has characters a bearer token cannot have (RFC 6750 §2.1)");
            }

            if (root.TryGetProperty("token_type", out var type) && !(type.ValueKind == JsonValueKind.String && string.Equals(type.GetString(), "Bearer", StringComparison.OrdinalIgnoreCase)))
            {
                throw new VzdAuthenticationException(step.BadResponse, $"the {step.Name}'s token_type is not Bearer");
            }

            TimeSpan? lifetime = null;
            if (root.TryGetProperty("expires_in", out var expiresIn) && expiresIn.ValueKind != JsonValueKind.Null)
            {
                if (expiresIn.ValueKind != JsonValueKind.Number || !expiresIn.TryGetInt64(out var seconds) || seconds < 0)
                {
                    throw new VzdAuthenticationException(step.BadResponse, $"the {step.Name}'s expires_in is not a number of seconds");
                }

                lifetime = seconds >= (long)s_maxLifetime.TotalSeconds ? s_maxLifetime : TimeSpan.FromSeconds(seconds);
            }

            return new Answer(value, lifetime);
        }
    }

    // RFC 6749 §5.2: an error answer names its reason as a short code ("invalid_client"). It is quoted when it is one
    // of those codes; the rest of the body (free text a server may fill with anything) is not.
    private static string OAuthError(ReadOnlySpan<byte> body, string secret)
    {
        try
        {
            using var document = JsonDocument.Parse(body.ToArray());
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String
                && error.GetString() is { Length: > 0 and <= 64 } code && code.All(c => c is (>= 'a' and <= 'z') or '_')
                && !code.Contains(secret, StringComparison.Ordinal))
            {
                return $" ({code})";
            }
        }
        catch (JsonException)
        {
        }

        return string.Empty;
    }

    // RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    private static bool IsBearerToken(string value)
    {
        var end = value.Length;
        while (end > 0 && value[end - 1] == '=')
        {
            end--;
        }

        if (end == 0)
        {
            return false;
        }

        for (var i = 0; i < end; i++)
        {
            if (!(char.IsAsciiLetterOrDigit(value[i]) || value[i] is '-' or '.' or '_' or '~' or '+' or '/'))
            {
                return false;
            }
        }

        return true;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    // ToString overridden: a record would print the token.
    private sealed record Token(string Value, DateTimeOffset RenewAt)
    {
        public override string ToString() => $"VZD token, renewed at {RenewAt:O}";
    }

    private readonly record struct Answer(string Value, TimeSpan? Lifetime)
    {
        public override string ToString() => $"VZD answer, lifetime {Lifetime}";
    }

    private sealed record Step(string Name, VzdAuthenticationFailure Unreachable, VzdAuthenticationFailure Status, VzdAuthenticationFailure BadResponse);
}
