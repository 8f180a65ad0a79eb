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

    /// <summary>Verify the ed25519 signature of every inbound X-Matrix request before the homeserver sees it.</summary>
    public bool VerifySignatures { get; set; } = true;

    /// <summary>
    /// The notary asked for other servers' keys (<c>POST /_matrix/key/v2/query</c>); empty means the homeserver
    /// (<c>Inbound:HomeserverUrl</c>), which fetches them through the outbound proxy and so the federation list.
    /// </summary>
    public string? KeyNotaryUrl { get; set; }

    /// <summary>Servers whose keys are held at most; more evict the ones expiring first.</summary>
    public int MaxCachedServerKeys { get; set; } = 10_000;

    /// <summary>A server's keys are fetched again for an unknown key ID, or after a failed fetch, at most this often.</summary>
    public TimeSpan KeyRefetchInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Accept the registration service's plain JSON list (<c>/backend/federation</c>, hand edits included) instead
    /// of verifying the VZD's signed list (<c>/backend/federation.jws</c>) with <see cref="TrustAnchors"/>. Weaker:
    /// whoever can answer in the registration service's name decides the federation. For tests and hand-made lists.
    /// </summary>
    public bool AllowUnsignedList { get; set; }

    /// <summary>PEM files of the CAs (from the TSL) a list signer must chain to; required unless <see cref="AllowUnsignedList"/>.</summary>
    public List<string> TrustAnchors { get; set; } = [];

    /// <summary>JWS algorithms accepted: <c>BP256R1</c> and <c>ES256</c>.</summary>
    public List<string> Algorithms { get; set; } = ["BP256R1", "ES256"];

    /// <summary>Revocation checks of the signer's path (<c>Federation:Ocsp</c>).</summary>
    public Trust.OcspOptions Ocsp { get; set; } = new();
}
