using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Policy.Federation;
using MessengerProxy.Trust;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Federation;

internal enum FederationVerdict
{
    Allowed,

    /// <summary>The domain is not in the list (after a refresh, if one was due).</summary>
    NotFederated,

    /// <summary>No usable list: never loaded, or older than the maximum age. Federation fails closed.</summary>
    ListUnavailable,

    /// <summary>The value is not a Matrix server name at all.</summary>
    InvalidServerName,
}

internal readonly record struct FederationCheck(FederationVerdict Verdict, string Detail);

/// <summary>A signed list refused at <paramref name="At"/>, with its reason code (<see cref="JwsFailures.Code"/>).</summary>
internal sealed record Refusal(string Code, DateTimeOffset At);

/// <summary>
/// The proxy's federation list: the current version in memory (swapped atomically, never locked for
/// readers), refreshed from the registration service on a schedule and when a request names an unknown
/// domain (at most once per interval, concurrent callers awaiting the same refresh), persisted as the last
/// good copy, and considered unusable once not confirmed for longer than the maximum age.
/// </summary>
internal sealed partial class FederationListCache
{
    public const string HttpClientName = "MessengerProxy.Registration";
    public const string MeterName = "MessengerProxy.Federation";

    private readonly FederationOptions _options;
    private readonly FederationListFile _file;
    private readonly SignedListVerification _verification;
    private readonly IHttpClientFactory _httpClientFactory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Counter<long> _refreshes;
    private readonly object _refreshGate = new();
    private readonly string? _ownHost;
    private volatile Snapshot? _snapshot;
    private volatile ContactState _contact = new(null, null);
    private volatile Refusal? _refusal;
    private Task? _refreshInFlight;
    private Task _persistence = Task.CompletedTask;
    private DateTimeOffset _lastUnknownDomainRefresh = DateTimeOffset.MinValue;

    public FederationListCache(IOptions<FederationOptions> options, FederationListFile file, SignedListVerification verification,
        IHttpClientFactory httpClientFactory, TimeProvider time, IMeterFactory meterFactory, ILogger<FederationListCache> logger)
    {
        _options = options.Value;
        _file = file;
        _verification = verification;
        _httpClientFactory = httpClientFactory;
        _time = time;
        _logger = logger;
        _ownHost = _options.OwnServerName?.Host;

        var meter = meterFactory.Create(MeterName);
        _refreshes = meter.CreateCounter<long>("refreshes_total", description: "Fetches of the list from the registration service, by outcome.");
        meter.CreateObservableGauge("list_version", () => _snapshot?.List.Version ?? 0, description: "Version of the federation list in force (0: none).");
        meter.CreateObservableGauge("list_domains", () => _snapshot?.List.Count ?? 0, description: "Domains in the federation list in force.");
        meter.CreateObservableGauge("list_age_seconds", () => _snapshot is { } s ? (_time.GetUtcNow() - s.ConfirmedAt).TotalSeconds : -1,
            unit: "s", description: "Time since the registration service last confirmed the list (-1: no list).");
    }

    public FederationList? Current => _snapshot?.List;

    public DateTimeOffset? ConfirmedAt => _snapshot?.ConfirmedAt;

    /// <summary>When the registration service last answered (200 or 304), and the last failure since, if any.</summary>
    public DateTimeOffset? LastContact => _contact.At;

    public string? LastError => _contact.Error;

    /// <summary>
    /// The last signed list the registration service offered that was refused (the list in force stays), until
    /// a list is accepted or confirmed again; its reason code is what readiness shows.
    /// </summary>
    public Refusal? LastRefusal => _refusal;

    /// <summary>Whether the list must be the VZD's signed one (<c>Federation:AllowUnsignedList=false</c>).</summary>
    public bool RequiresSignature => !_options.AllowUnsignedList;

    public bool Enforced => _options.Enforce;

    public TimeSpan MaxAge => _options.MaxAge;

    /// <summary>Checks a server name (with or without port) against the list as it is now.</summary>
    public FederationCheck Check(ReadOnlySpan<char> serverName)
    {
        if (!_options.Enforce)
        {
            return new(FederationVerdict.Allowed, "not enforced");
        }

        if (!ServerNames.TryGetHost(serverName, out var host))
        {
            return new(FederationVerdict.InvalidServerName, "not a Matrix server name");
        }

        if (_ownHost is not null && host.Equals(_ownHost, StringComparison.OrdinalIgnoreCase))
        {
            return new(FederationVerdict.Allowed, "own server");
        }

        var snapshot = _snapshot;
        if (snapshot is null)
        {
            return new(FederationVerdict.ListUnavailable, "no federation list has been loaded");
        }

        if (_time.GetUtcNow() - snapshot.ConfirmedAt > _options.MaxAge)
        {
            return new(FederationVerdict.ListUnavailable,
                $"the federation list was last confirmed at {snapshot.ConfirmedAt.ToString("u", CultureInfo.InvariantCulture)}, more than {_options.MaxAge.TotalHours:0} h ago");
        }

        return snapshot.List.Contains(host)
            ? new(FederationVerdict.Allowed, "listed")
            : new(FederationVerdict.NotFederated, "not listed");
    }

    /// <summary>
    /// Like <see cref="Check"/>, but a domain that is not listed (or a missing list) first triggers a refresh
    /// from the registration service, if none ran within the configured interval.
    /// </summary>
    public async ValueTask<FederationCheck> CheckAsync(string serverName, CancellationToken cancellationToken)
    {
        var check = Check(serverName);
        if (check.Verdict is FederationVerdict.Allowed or FederationVerdict.InvalidServerName)
        {
            return check;
        }

        Task refresh;
        lock (_refreshGate)
        {
            // Joining a refresh that is already running costs nothing; starting one uses up the interval.
            if (_refreshInFlight is { } running)
            {
                refresh = running;
            }
            else
            {
                var now = _time.GetUtcNow();
                if (now - _lastUnknownDomainRefresh < _options.UnknownDomainRefreshInterval)
                {
                    return check;
                }

                _lastUnknownDomainRefresh = now;
                refresh = StartRefresh();
            }
        }

        await refresh.WaitAsync(cancellationToken);
        return Check(serverName);
    }

    /// <summary>Fetches the list now; concurrent callers share one fetch. Never throws for fetch failures.</summary>
    public Task RefreshAsync(CancellationToken cancellationToken)
    {
        Task refresh;
        lock (_refreshGate)
        {
            refresh = StartRefresh();
        }

        return refresh.WaitAsync(cancellationToken);
    }

    /// <summary>Loads the persisted last good list, if there is one (used at start-up).</summary>
    public async Task LoadPersistedAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (await _file.LoadAsync(cancellationToken) is { } persisted && _snapshot is null)
            {
                // A copy of an unsigned list (written while AllowUnsignedList was on) is not what this set-up trusts.
                if (RequiresSignature && !persisted.List.IsSigned)
                {
                    LogPersistedUnreadable(_logger, _file.Path, "the persisted list was not verified from a signature and Federation:AllowUnsignedList is false");
                    return;
                }

                _snapshot = new Snapshot(persisted.List, persisted.ConfirmedAt);
                LogLoadedPersisted(_logger, persisted.List.Version, persisted.List.Count, _file.Path, persisted.ConfirmedAt);
            }
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            LogPersistedUnreadable(_logger, _file.Path, ex.Message);
        }
    }

    // Must be called with _refreshGate held.
    private Task StartRefresh()
    {
        if (_refreshInFlight is { } running)
        {
            return running;
        }

        var task = Task.Run(async () =>
        {
            try
            {
                await FetchAsync();
            }
            finally
            {
                lock (_refreshGate)
                {
                    _refreshInFlight = null;
                }
            }
        });
        _refreshInFlight = task;
        return task;
    }

    private async Task FetchAsync()
    {
        if (string.IsNullOrEmpty(_options.RegistrationServiceUrl))
        {
            _contact = _contact with { Error = "Federation:RegistrationServiceUrl is not configured" };
            return;
        }

        var held = _snapshot;
        // Signed: ?version= is the VZD's number, which only a signed copy has. Unsigned: the service's own.
        var heldVersion = held is null || (RequiresSignature && !held.List.IsSigned) ? (long?)null : held.List.Version;
        var url = _options.RegistrationServiceUrl.TrimEnd('/') + (RequiresSignature ? "/backend/federation.jws" : "/backend/federation")
            + (heldVersion is null ? string.Empty : "?version=" + heldVersion.Value.ToString(CultureInfo.InvariantCulture));
        try
        {
            using var timeout = new CancellationTokenSource(_options.RequestTimeout);
            using var response = await _httpClientFactory.CreateClient(HttpClientName).GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var now = _time.GetUtcNow();
            if (response.StatusCode == HttpStatusCode.NotModified && held is not null && heldVersion is not null)
            {
                _snapshot = held with { ConfirmedAt = now };
                _contact = new ContactState(now, null);
                _refusal = null;
                _refreshes.Add(1, new KeyValuePair<string, object?>("outcome", "confirmed"));
                Persist(null, held.List.Version, now);
                return;
            }

            if (RequiresSignature && response.StatusCode == HttpStatusCode.NotFound)
            {
                // The service holds no VZD import, only hand-made lists (or none): nothing this proxy may trust.
                _contact = new ContactState(now, null);
                Refuse(new JwsVerificationException(JwsFailure.Unsigned,
                    "the registration service has no signed federation list; unsigned lists need Federation:AllowUnsignedList=true"), held, now);
                return;
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new HttpRequestException($"HTTP {(int)response.StatusCode} from {url}");
            }

            await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
            var body = await BoundedRead.ToEndAsync(stream, _options.MaxListBytes, "the federation list (Federation:MaxListBytes)", response.Content.Headers.ContentLength, timeout.Token);
            FederationList list;
            if (RequiresSignature)
            {
                _contact = new ContactState(now, null);
                try
                {
                    // Latin-1 maps every byte to one character, so a byte that is not ASCII is refused by position.
                    // Not bounded by the fetch's timeout: each OCSP request has its own (Federation:Ocsp:Timeout), and
                    // a responder that does not answer must read as revocation-unavailable, not as a failed fetch.
                    list = await _verification.VerifyAsync(System.Text.Encoding.Latin1.GetString(body.Span), CancellationToken.None);
                    if (held is { List.IsSigned: true } && list.Version <= held.List.Version)
                    {
                        throw new JwsVerificationException(JwsFailure.Replay,
                            $"signed list version {list.Version} is not newer than version {held.List.Version} in force (replay or rollback)");
                    }
                }
                catch (JwsVerificationException ex)
                {
                    Refuse(ex, held, now);
                    return;
                }
            }
            else
            {
                (list, _) = FederationListCopy.Parse(body);
            }

            _snapshot = new Snapshot(list, now);
            _contact = new ContactState(now, null);
            _refusal = null;
            _refreshes.Add(1, new KeyValuePair<string, object?>("outcome", "updated"));
            LogListUpdated(_logger, list.Version, list.Count, held?.List.Version);
            Persist(list, list.Version, now);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or FormatException)
        {
            var error = ex is OperationCanceledException ? $"no answer from {url} within {_options.RequestTimeout}" : ex.Message;
            _contact = _contact with { Error = error };
            _refreshes.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            LogRefreshFailed(_logger, error, held?.List.Version);
        }
    }

    // The list in force stays, and is not confirmed: it ages towards MaxAge like one the service did not answer for.
    private void Refuse(JwsVerificationException refusal, Snapshot? held, DateTimeOffset now)
    {
        var code = refusal.Failure.Code();
        _refusal = new Refusal(code, now);
        _refreshes.Add(1, new KeyValuePair<string, object?>("outcome", "refused"), new KeyValuePair<string, object?>("reason", code));
        LogListRefused(_logger, code, refusal.Message, held?.List.Version);
    }

    /// <summary>Completes when everything persisted so far is on disk.</summary>
    public Task PersistedAsync()
    {
        lock (_refreshGate)
        {
            return _persistence;
        }
    }

    // Disk writes happen after the refresh has finished, in order, one at a time: a refresh must not stay
    // "in flight" for the seconds an fsync can take, or requests would join it instead of fetching anew.
    private void Persist(FederationList? list, long version, DateTimeOffset confirmedAt)
    {
        lock (_refreshGate)
        {
            _persistence = _persistence.ContinueWith(async _ =>
            {
                try
                {
                    if (list is not null)
                    {
                        await _file.SaveListAsync(list, confirmedAt, CancellationToken.None);
                    }

                    await _file.SaveConfirmationAsync(version, confirmedAt, CancellationToken.None);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    LogPersistFailed(_logger, _file.Path, ex.Message);
                }
            }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Federation list version {Version} in force ({Count} domains, previously {Previous})", EventName = "FederationListUpdated")]
    private static partial void LogListUpdated(ILogger logger, long version, int count, long? previous);

    [LoggerMessage(2, LogLevel.Warning, "Federation list refresh failed, keeping version {Held}: {Reason}", EventName = "FederationListRefreshFailed")]
    private static partial void LogRefreshFailed(ILogger logger, string reason, long? held);

    [LoggerMessage(3, LogLevel.Information, "Loaded the last good federation list, version {Version} ({Count} domains), from {Path}; last confirmed {ConfirmedAt:u}", EventName = "FederationListLoaded")]
    private static partial void LogLoadedPersisted(ILogger logger, long version, int count, string path, DateTimeOffset confirmedAt);

    [LoggerMessage(4, LogLevel.Warning, "The persisted federation list at {Path} cannot be read and is ignored: {Reason}", EventName = "FederationListFileUnreadable")]
    private static partial void LogPersistedUnreadable(ILogger logger, string path, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Could not save the federation list to {Path}; a restart will need the registration service: {Reason}", EventName = "FederationListPersistFailed")]
    private static partial void LogPersistFailed(ILogger logger, string path, string reason);

    [LoggerMessage(6, LogLevel.Warning, "Signed federation list refused ({Code}), keeping version {Held}: {Reason}", EventName = "FederationListRefused")]
    private static partial void LogListRefused(ILogger logger, string code, string reason, long? held);

    private sealed record Snapshot(FederationList List, DateTimeOffset ConfirmedAt);

    private sealed record ContactState(DateTimeOffset? At, string? Error);
}
