namespace MessengerProxy.Registration.Configuration;

/// <summary>Settings of the registration service (configuration section <c>Registration</c>).</summary>
internal sealed class RegistrationOptions
{
    public const string SectionName = "Registration";

    /// <summary>Port of the API (<c>/backend/*</c> for proxies, <c>/admin/*</c> for operators).</summary>
    public int Port { get; set; } = 8080;

    public string BindAddress { get; set; } = "*";

    /// <summary>Port of <c>/actuator/health/*</c> and <c>/metrics</c>.</summary>
    public int HealthPort { get; set; } = 8081;

    public string HealthBindAddress { get; set; } = "*";

    /// <summary>Npgsql connection string of the service's database. Required.</summary>
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>Apply pending EF Core migrations when the service starts.</summary>
    public bool ApplyMigrationsOnStart { get; set; } = true;

    /// <summary>Bearer token of the admin API; at least 32 characters. Required.</summary>
    public string AdminToken { get; set; } = string.Empty;

    /// <summary>Largest accepted request body (a 100 000-domain list is about 12 MiB).</summary>
    public long MaxBodyBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>A list older than this makes the service's readiness report it as stale (TIM: 72 h).</summary>
    public TimeSpan MaxListAge { get; set; } = TimeSpan.FromHours(72);

    public VzdOptions Vzd { get; set; } = new();
}

/// <summary>Import of the VZD's signed federation list (<c>Registration:Vzd</c>).</summary>
internal sealed class VzdOptions
{
    /// <summary>PEM files with the certificates a list signer must chain up to. Without any, imports are refused.</summary>
    public List<string> TrustAnchors { get; set; } = [];

    /// <summary>JWS algorithms accepted: <c>BP256R1</c> (brainpoolP256r1) and <c>ES256</c> (P-256).</summary>
    public List<string> Algorithms { get; set; } = ["BP256R1", "ES256"];

    /// <summary>
    /// URL of <c>federationList.jws</c> at the VZD; when set, the service fetches it every
    /// <see cref="PollInterval"/> with <c>?version=</c> of the last import (204 = nothing newer).
    /// </summary>
    public string? FederationListUrl { get; set; }

    /// <summary>
    /// Legacy: a static bearer token for <see cref="FederationListUrl"/>. The VZD issues tokens through
    /// <see cref="ClientId"/> and <see cref="ClientSecret"/> instead; the two ways exclude each other.
    /// </summary>
    public string? BearerToken { get; set; }

    /// <summary>
    /// OAuth client of this provider at the VZD's TI-Provider realm. When set, every request to the VZD carries a
    /// token from the client-credentials grant at <see cref="TokenUrl"/>, exchanged at
    /// <see cref="ServiceUrl"/><c>/ti-provider-authenticate</c> (gematik api-vzd <c>I_VZD_TI_Provider_Authenticate_Service</c>).
    /// </summary>
    public string? ClientId { get; set; }

    /// <summary>The client's secret; or <see cref="ClientSecretFile"/>, exactly one of the two.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>A file holding the client's secret (surrounding white space ignored), read at every token request.</summary>
    public string? ClientSecretFile { get; set; }

    /// <summary>Base URL of the VZD's OAuth server, e.g. <c>https://auth-test.vzd.ti-dienste.de:9443</c>.</summary>
    public string? TokenUrl { get; set; }

    /// <summary>Path of the token endpoint below <see cref="TokenUrl"/>.</summary>
    public string TokenPath { get; set; } = "/auth/realms/TI-Provider/protocol/openid-connect/token";

    /// <summary>Base URL of the VZD's FHIR directory, which serves <c>/ti-provider-authenticate</c>.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>A token is renewed this long before the VZD says it expires (at most half its lifetime).</summary>
    public TimeSpan TokenRefreshMargin { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Whether the client-credentials exchange is configured (rather than the legacy static token, or nothing).</summary>
    public bool UsesClientCredentials => !string.IsNullOrEmpty(ClientId);

    public TimeSpan PollInterval { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Revocation checks of every certificate on the signer's path (<c>Registration:Vzd:Ocsp</c>).</summary>
    public Trust.OcspOptions Ocsp { get; set; } = new();
}
