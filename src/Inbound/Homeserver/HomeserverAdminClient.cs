using System.Net.Http.Headers;
using System.Text.Json;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Inbound.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Homeserver;

/// <summary>Why an admin API request gave no usable answer; a metrics label.</summary>
internal enum AdminFailure
{
    None,
    NotConfigured,
    Unreachable,
    Timeout,
    LoginFailed,
    Unauthorized,
    BadResponse,
}

/// <summary>The homeserver's answer to an admin API request, or why there was none.</summary>
internal readonly record struct AdminResponse(int Status, ReadOnlyMemory<byte> Body, AdminFailure Failure, string Detail)
{
    public bool IsSuccess => Failure == AdminFailure.None && Status is >= 200 and < 300;

    public static AdminResponse Failed(AdminFailure failure, string detail) => new(0, default, failure, detail);

    public static string Label(AdminFailure failure) => failure switch
    {
        AdminFailure.NotConfigured => "not_configured",
        AdminFailure.Unreachable => "unreachable",
        AdminFailure.Timeout => "timeout",
        AdminFailure.LoginFailed => "login_failed",
        AdminFailure.Unauthorized => "unauthorized",
        AdminFailure.BadResponse => "bad_response",
        _ => "status",
    };
}

/// <summary>
/// The Synapse admin API, called on the homeserver's internal URL (<c>Tim:Admin:HomeserverUrl</c>, by default
/// <c>Inbound:HomeserverUrl</c>), never through the public listener, where <c>/_synapse/*</c> stays unknown. It
/// authenticates with a configured admin token, or logs in with the configured user and password once, on first
/// use, and again only after the homeserver answers 401 to the token it holds; concurrent callers share one login.
/// A login's device is logged out when the process stops (<see cref="AdminSessionCloser"/>).
/// </summary>
internal sealed class HomeserverAdminClient
{
    internal const string HttpClientName = "tim-admin";

    private const int MaxLoginBytes = 64 * 1024;

    // After a failed login, callers fail at once for a moment instead of each trying again: a wrong password must not
    // become a stream of logins the homeserver rate-limits (and then refuses the right one too).
    private static readonly TimeSpan s_loginRetryDelay = TimeSpan.FromSeconds(2);

    private readonly IHttpClientFactory _clients;
    private readonly TimMetrics _metrics;
    private readonly ILogger _logger;
    private readonly HomeserverAdminOptions _options;
    private readonly string _baseUrl;
    private readonly object _gate = new();
    private string? _token;
    private Task<string?>? _login;
    private bool _loggedIn;
    private long _lastFailedLogin = long.MinValue;

    public HomeserverAdminClient(IHttpClientFactory clients, IOptions<InboundOptions> inbound, IOptions<TimOptions> tim, TimMetrics metrics, ILogger<HomeserverAdminClient> logger)
    {
        _clients = clients;
        _metrics = metrics;
        _logger = logger;
        _options = tim.Value.Admin;
        _baseUrl = (string.IsNullOrEmpty(_options.HomeserverUrl) ? inbound.Value.HomeserverUrl : _options.HomeserverUrl).TrimEnd('/');
        _token = string.IsNullOrEmpty(_options.AccessToken) ? null : _options.AccessToken;
    }

    public bool IsConfigured => _options.IsConfigured;

    /// <summary>Where the admin API is called, for readiness details.</summary>
    public string BaseUrl => _baseUrl;

    /// <summary>
    /// Sends one admin request. A 401 to a token from a login leads to one new login and one retry; any other
    /// answer, success or not, is the caller's to read.
    /// </summary>
    /// <param name="pathAndQuery">Starting with <c>/</c>; identifiers in it already escaped.</param>
    public async Task<AdminResponse> SendAsync(HttpMethod method, string pathAndQuery, byte[]? jsonBody, int maxResponseBytes, CancellationToken cancellationToken)
    {
        if (!IsConfigured)
        {
            return AdminResponse.Failed(AdminFailure.NotConfigured, "no admin credentials are configured (Tim:Admin)");
        }

        var token = await CurrentTokenAsync(cancellationToken);
        if (token is null)
        {
            return Fail(pathAndQuery, AdminResponse.Failed(AdminFailure.LoginFailed, "the admin login failed"));
        }

        var response = await SendOnceAsync(method, pathAndQuery, jsonBody, token, maxResponseBytes, cancellationToken);
        if (response.Status == 401 && CanLogIn)
        {
            token = await RenewAsync(token, cancellationToken);
            if (token is null)
            {
                return Fail(pathAndQuery, AdminResponse.Failed(AdminFailure.LoginFailed, "the admin login failed"));
            }

            response = await SendOnceAsync(method, pathAndQuery, jsonBody, token, maxResponseBytes, cancellationToken);
        }

        if (response.Status is 401 or 403 && response.Failure == AdminFailure.None)
        {
            response = response with { Failure = AdminFailure.Unauthorized, Detail = $"the homeserver answered {response.Status}: the credentials are not an admin's" };
        }

        return response.Failure == AdminFailure.None ? response : Fail(pathAndQuery, response);
    }

    private bool CanLogIn => !string.IsNullOrEmpty(_options.User);

    private AdminResponse Fail(string pathAndQuery, AdminResponse response)
    {
        _metrics.AdminFailure(AdminResponse.Label(response.Failure));
        TimLog.AdminFailed(_logger, Operation(pathAndQuery), response.Detail);
        return response;
    }

    // The path without identifiers: its literal segments up to the first one that names a user or room.
    private static string Operation(string pathAndQuery)
    {
        var path = pathAndQuery.Split('?')[0];
        var kept = path.Split('/').TakeWhile(s => !s.Contains('%') && !s.StartsWith('@') && !s.StartsWith('!'));
        return string.Join('/', kept);
    }

    private Task<string?> CurrentTokenAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_token is { } token)
            {
                return Task.FromResult<string?>(token);
            }

            return StartLogIn();
        }
    }

    // Under the lock. A finished login that left no token failed: the next caller tries again.
    private Task<string?> StartLogIn()
    {
        if (_login is { IsCompleted: false } running)
        {
            return running;
        }

        if (_lastFailedLogin != long.MinValue && System.Diagnostics.Stopwatch.GetElapsedTime(_lastFailedLogin) < s_loginRetryDelay)
        {
            return Task.FromResult<string?>(null);
        }

        return _login = LogInAsync();
    }

    /// <summary>The token that replaces <paramref name="refused"/>: a login already done by another caller, or a new one.</summary>
    private Task<string?> RenewAsync(string refused, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_token is { } token && token != refused)
            {
                return Task.FromResult<string?>(token);
            }

            if (_token == refused)
            {
                _token = null;
                _login = null;
            }

            return StartLogIn();
        }
    }

    // Not tied to one caller's cancellation: the login is shared by everyone waiting for it.
    private async Task<string?> LogInAsync()
    {
        string? token = null;
        try
        {
            var body = JsonSerializer.SerializeToUtf8Bytes(new LoginRequest(
                "m.login.password", new LoginIdentifier("m.id.user", _options.User!), _options.Password!, "Messenger Proxy"));
            var response = await SendOnceAsync(HttpMethod.Post, "/_matrix/client/v3/login", body, token: null, MaxLoginBytes, CancellationToken.None);
            if (response.Failure != AdminFailure.None || response.Status != 200)
            {
                TimLog.AdminFailed(_logger, "login", response.Failure != AdminFailure.None ? response.Detail : $"the homeserver answered {response.Status}");
                return null;
            }

            using var document = JsonDocument.Parse(response.Body);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("access_token", out var value) && value.ValueKind == JsonValueKind.String)
            {
                token = value.GetString();
            }

            if (string.IsNullOrEmpty(token))
            {
                TimLog.AdminFailed(_logger, "login", "the login answer has no access_token");
                return null;
            }

            _metrics.AdminLogin();
            TimLog.AdminLoggedIn(_logger);
            return token;
        }
        catch (JsonException)
        {
            TimLog.AdminFailed(_logger, "login", "the login answer is not JSON");
            return null;
        }
        finally
        {
            lock (_gate)
            {
                _token = token;
                _loggedIn |= token is not null;
                _lastFailedLogin = token is null ? System.Diagnostics.Stopwatch.GetTimestamp() : long.MinValue;
            }
        }
    }

    private async Task<AdminResponse> SendOnceAsync(HttpMethod method, string pathAndQuery, byte[]? jsonBody, string? token, int maxResponseBytes, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, _baseUrl + pathAndQuery);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (jsonBody is not null)
        {
            request.Content = new ByteArrayContent(jsonBody);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        try
        {
            using var response = await _clients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var body = await BoundedRead.ToEndAsync(stream, maxResponseBytes, "the admin API answer", response.Content.Headers.ContentLength, cancellationToken);
            return new AdminResponse((int)response.StatusCode, body, AdminFailure.None, string.Empty);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return AdminResponse.Failed(AdminFailure.Timeout, $"no answer within {_options.Timeout}");
        }
        catch (HttpRequestException ex)
        {
            return AdminResponse.Failed(AdminFailure.Unreachable, ExceptionChains.Innermost(ex));
        }
        catch (Exception ex) when (ex is FormatException or IOException)
        {
            return AdminResponse.Failed(AdminFailure.BadResponse, ex.Message);
        }
    }

    /// <summary>Logs the login's device out, so restarts do not pile up devices on the admin account.</summary>
    public async Task LogOutAsync(CancellationToken cancellationToken)
    {
        string? token;
        lock (_gate)
        {
            token = _loggedIn ? _token : null;
            _token = null;
        }

        if (token is null)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await SendOnceAsync(HttpMethod.Post, "/_matrix/client/v3/logout", "{}"u8.ToArray(), token, MaxLoginBytes, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Best effort: the device stays until an operator removes it.
        }
    }

    private sealed record LoginIdentifier(
        [property: System.Text.Json.Serialization.JsonPropertyName("type")] string Type,
        [property: System.Text.Json.Serialization.JsonPropertyName("user")] string User);

    private sealed record LoginRequest(
        [property: System.Text.Json.Serialization.JsonPropertyName("type")] string Type,
        [property: System.Text.Json.Serialization.JsonPropertyName("identifier")] LoginIdentifier Identifier,
        [property: System.Text.Json.Serialization.JsonPropertyName("password")] string Password,
        [property: System.Text.Json.Serialization.JsonPropertyName("initial_device_display_name")] string DeviceName);
}

/// <summary>Logs the admin client's session out when the host stops, while its HTTP clients still exist.</summary>
internal sealed class AdminSessionCloser(HomeserverAdminClient admin) : Microsoft.Extensions.Hosting.IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => admin.LogOutAsync(cancellationToken);
}
