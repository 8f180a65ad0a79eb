namespace MessengerProxy.Federation;

/// <summary>Settings of the proxy's federation checks (configuration section <c>Federation</c>).</summary>
internal sealed class FederationOptions
{
    public const string SectionName = "Federation";

    /// <summary>Check federation membership at all. Off only for conformance test set-ups (like the TIM reference's SyTest mode).</summary>
    public bool Enforce { get; set; } = true;

    /// <summary>
    /// Read federation transactions (<c>PUT /_matrix/federation/v1/send/{txnId}</c>) in both directions and refuse one
    /// whole when a PDU or EDU names a server outside the federation (only while <see cref="Enforce"/> is on).
    /// </summary>
    public bool CheckTransactionDomains { get; set; } = true;

    /// <summary>This homeserver's own server name; its users and media are always allowed, list or not.</summary>
    public string? ServerName { get; set; }

    /// <summary>
    /// <see cref="ServerName"/> normalised, for everything that compares with it (the inbound federation check,
    /// the outbound origin check, the support document's name); null when unset (or invalid, which start-up
    /// validation refuses).
    /// </summary>
    public Policy.Federation.ServerName? OwnServerName => Policy.Federation.ServerName.TryParse(ServerName, out var own) ? own : null;

    /// <summary>Base URL of the registration service, e.g. <c>http://registration:8080</c>; the list is fetched from <c>/backend/federation</c>.</summary>
    public string? RegistrationServiceUrl { get; set; }

    /// <summary>How often the list is re-fetched (<c>?version=</c> of the copy held; 304 confirms it).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>A copy not confirmed by the registration service for this long is outdated: federation fails closed (TIM: 72 h).</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(72);

    /// <summary>A request naming an unknown domain triggers an immediate re-fetch at most this often.</summary>
    public TimeSpan UnknownDomainRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Where the last good list is kept so a restart without the registration service still enforces it.</summary>
    public string CacheFile { get; set; } = "federation-list.json";

    /// <summary>Largest list document accepted from the registration service.</summary>
    public long MaxListBytes { get; set; } = 64 * 1024 * 1024;
}
