namespace MessengerProxy.Inbound.Configuration;

/// <summary>Settings of the inbound reverse proxy (configuration section <c>Inbound</c>).</summary>
internal sealed class InboundOptions
{
    public const string SectionName = "Inbound";

    /// <summary>TCP port of the public listener.</summary>
    public int Port { get; set; } = 8090;

    /// <summary>Address to listen on: <c>*</c> (all, IPv4 and IPv6), <c>localhost</c>, or an IP address.</summary>
    public string BindAddress { get; set; } = "*";

    /// <summary>Base URL of the homeserver, e.g. <c>http://synapse:8008</c>. Required.</summary>
    public string HomeserverUrl { get; set; } = string.Empty;

    /// <summary>URL clients use to reach this proxy; written into <c>m.homeserver.base_url</c> of <c>/.well-known/matrix/client</c>.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>
    /// Networks (CIDR or single address) of reverse proxies in front of this one. Only their
    /// X-Forwarded-* headers are kept (and appended to); everyone else's are replaced.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>Largest request body for JSON endpoints: 200 PDUs of 64 KiB, the limit Synapse applies itself.</summary>
    public long MaxJsonBodyBytes { get; set; } = 200 * 65_536;

    /// <summary>Largest media upload; keep it at or above the homeserver's <c>max_upload_size</c>.</summary>
    public long MaxUploadBodyBytes { get; set; } = 100 * 1024 * 1024;

    /// <summary>How long to wait for a TCP/TLS connection to the homeserver.</summary>
    public TimeSpan UpstreamConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the homeserver may stay silent (no response headers or body bytes) before the proxy answers 504.</summary>
    public TimeSpan UpstreamTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Endpoints allowed in addition to Matrix v1.11, as <c>"GET,POST /_synapse/client/{*path}"</c>.</summary>
    public List<string> ExtraEndpoints { get; set; } = [];

    /// <summary>Endpoints of the v1.11 table to refuse, as <c>"GET /_matrix/media/v3/preview_url"</c> or <c>"* /path"</c>.</summary>
    public List<string> DeniedEndpoints { get; set; } = [];

    /// <summary>Keys of <c>unstable_features</c> in <c>/_matrix/client/versions</c> that clients may see; all others are removed.</summary>
    public List<string> AllowedUnstableFeatures { get; set; } = [];

    /// <summary>PEM certificate (chain) for TLS on the inbound listener; empty means plain HTTP (TLS terminated in front).</summary>
    public string? TlsCertificatePath { get; set; }

    /// <summary>PEM private key belonging to <see cref="TlsCertificatePath"/>.</summary>
    public string? TlsKeyPath { get; set; }

    /// <summary>
    /// Several listeners, each with its own port, bind address, TLS and APIs (client, federation or both).
    /// When set, <see cref="Port"/>, <see cref="BindAddress"/> and the TLS keys above must not be.
    /// </summary>
    public List<InboundListenerOptions> Listeners { get; set; } = [];

    /// <summary>
    /// Which of the single-listener keys (<c>Inbound:Port</c>, <c>BindAddress</c>, <c>TlsCertificatePath</c>,
    /// <c>TlsKeyPath</c>) configuration sets explicitly; binding alone cannot tell a default from a value.
    /// </summary>
    internal IReadOnlyList<string> ExplicitSingleListenerKeys { get; set; } = [];

    internal static readonly string[] SingleListenerKeys = [nameof(Port), nameof(BindAddress), nameof(TlsCertificatePath), nameof(TlsKeyPath)];
}
