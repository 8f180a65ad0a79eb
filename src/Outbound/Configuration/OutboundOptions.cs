using System.Net;
using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Outbound.Configuration;

/// <summary>Settings of the outbound forward proxy (configuration section <c>Outbound</c>).</summary>
internal sealed class OutboundOptions
{
    public const string SectionName = "Outbound";

    /// <summary>Run the outbound proxy. It needs a CA (<see cref="CaCertificatePath"/>, <see cref="CaKeyPath"/>).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>TCP port the homeserver's <c>https_proxy</c>/<c>http_proxy</c> points at.</summary>
    public int Port { get; set; } = 8093;

    /// <summary>Address to listen on: <c>*</c>, <c>localhost</c> or an IP address. Only the homeserver should reach it.</summary>
    public string BindAddress { get; set; } = "*";

    /// <summary>
    /// When set (with <see cref="ProxyPassword"/>), every proxy request must carry these credentials
    /// (<c>Proxy-Authorization: Basic</c>; Synapse: <c>https_proxy: http://user:password@proxy:8093</c>), for
    /// networks where more than the homeserver can reach the port.
    /// </summary>
    public string? ProxyUser { get; set; }

    public string? ProxyPassword { get; set; }

    /// <summary>PEM certificate of the CA that issues the per-host certificates; the homeserver must trust it.</summary>
    public string CaCertificatePath { get; set; } = string.Empty;

    /// <summary>PEM private key (EC or RSA, PKCS#8 or traditional) of that CA.</summary>
    public string CaKeyPath { get; set; } = string.Empty;

    /// <summary>The password of <see cref="CaKeyPath"/> when it is an encrypted PKCS#8 key (<c>ENCRYPTED PRIVATE KEY</c>).</summary>
    public string? CaKeyPassword { get; set; }

    /// <summary>How long a minted leaf certificate is valid; it is replaced once half of that has passed.</summary>
    public TimeSpan LeafValidity { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Most leaf certificates kept; the least recently used beyond that are dropped.</summary>
    public int MaxCachedCertificates { get; set; } = 10_000;

    /// <summary>
    /// Ports a tunnel may be opened to; empty means the federation defaults 443 and 8448. (Empty rather than
    /// pre-filled because the configuration binder appends to a list instead of replacing it.)
    /// </summary>
    public List<int> AllowedPorts { get; set; } = [];

    internal IReadOnlyList<int> EffectivePorts => AllowedPorts.Count == 0 ? [443, 8448] : AllowedPorts;

    /// <summary>
    /// Hosts reached for purposes other than federation, with any path and without X-Matrix checks: push
    /// gateway, SSO/OIDC provider, reCAPTCHA. <c>host</c> (allowed ports) or <c>host:port</c> (that port,
    /// which is also the only way to allow plain <c>http://</c>).
    /// </summary>
    public List<string> ExtraHosts { get; set; } = [];

    /// <summary>Networks (CIDR or single address) the proxy may connect to although they are loopback, private or link-local.</summary>
    public List<string> AllowedNetworks { get; set; } = [];

    /// <summary>Fixed name-to-address mappings used instead of DNS (like /etc/hosts; the address rules still apply).</summary>
    public Dictionary<string, string> HostAddresses { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Extra PEM files of CAs trusted for upstream TLS in addition to the system trust store.</summary>
    public List<string> TrustedCaPaths { get; set; } = [];

    /// <summary>Server-server endpoints allowed in addition to Matrix v1.11, as <c>"GET /_matrix/federation/unstable/{*path}"</c>.</summary>
    public List<string> ExtraEndpoints { get; set; } = [];

    /// <summary>Endpoints of the v1.11 server-server table to refuse, as <c>"GET /_matrix/federation/v1/publicRooms"</c>.</summary>
    public List<string> DeniedEndpoints { get; set; } = [];

    /// <summary>
    /// Allow the unauthenticated media download of Matrix before v1.11 (<c>/_matrix/media/v3/download|thumbnail/{serverName}/…</c>),
    /// which Synapse falls back to for servers without authenticated media. The server name must be the tunnel's host.
    /// </summary>
    public bool AllowLegacyMedia { get; set; } = true;

    /// <summary>Time a client has to send a complete first request line and CONNECT head.</summary>
    public TimeSpan RequestHeadTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest CONNECT request head (request line plus headers).</summary>
    public int MaxRequestHeadBytes { get; set; } = 8 * 1024;

    /// <summary>Time a client has to complete the TLS handshake inside the tunnel.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Most client connections open at once on the outbound listener; more are answered 503.</summary>
    public int MaxConnections { get; set; } = 4096;

    /// <summary>How long name resolution of a destination may take.</summary>
    public TimeSpan DnsTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A relayed (not intercepted) tunnel silent in both directions for this long is closed.</summary>
    public TimeSpan RelayIdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long to wait for a TCP/TLS connection to the remote server.</summary>
    public TimeSpan UpstreamConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the remote server may stay silent before the proxy answers 504.</summary>
    public TimeSpan UpstreamTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Largest request body the homeserver may send out (a federation transaction is at most 50 PDUs + 100 EDUs of 64 KiB).</summary>
    public long MaxRequestBodyBytes { get; set; } = 200 * 65_536;

    /// <summary>
    /// How long a delegation learned from a remote <c>/.well-known/matrix/server</c> lets tunnels go to the
    /// delegated host (Synapse caches well-known answers for up to 48 h).
    /// </summary>
    public TimeSpan DelegationLifetime { get; set; } = TimeSpan.FromHours(48);

    /// <summary>
    /// Server names whose federation traffic goes to another host by SRV record, which the proxy cannot
    /// see: server name → host, e.g. <c>"example.org": "matrix.example.net"</c>. Delegation by
    /// <c>/.well-known/matrix/server</c> is learned without configuration.
    /// </summary>
    public Dictionary<string, string> Delegations { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Terminate TLS of extra hosts too (then the homeserver must trust the proxy CA for them as well). Off:
    /// their CONNECT tunnels are relayed end to end, as nothing inside them is checked.
    /// </summary>
    public bool InterceptExtraHosts { get; set; }

    /// <summary>Refuse authenticated federation requests whose X-Matrix header has no <c>destination</c> (Synapse always sends it).</summary>
    public bool RequireXMatrixDestination { get; set; } = true;

    /// <summary>
    /// Refuse hosts outside the federation list (and every host while the list is unusable) inside the tunnel
    /// instead of at the CONNECT: the proxy answers 200, terminates TLS with a certificate minted for the host
    /// and answers every request with the Matrix refusal. A homeserver cannot read an error answered to its
    /// CONNECT (Synapse logs a traceback and tells its user "Can't connect to server"); this one it passes on.
    /// Such a host is never resolved and nothing is connected to. Off: refused at the CONNECT.
    /// </summary>
    public bool RefuseUnlistedInsideTunnel { get; set; } = true;

    /// <summary>
    /// Most certificates minted for hosts outside the federation per <see cref="UnlistedCertificateMintPeriod"/>
    /// (a token bucket; cached certificates cost nothing). Beyond it such hosts are refused at the CONNECT.
    /// </summary>
    public int UnlistedCertificateMints { get; set; } = 60;

    public TimeSpan UnlistedCertificateMintPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Certificates kept for hosts outside the federation, in a cache of their own, so that many made-up names
    /// cannot push the federation peers' certificates out of theirs.
    /// </summary>
    public int MaxCachedUnlistedCertificates { get; set; } = 1000;

    internal IEnumerable<IPNetwork> ParsedAllowedNetworks()
    {
        foreach (var text in AllowedNetworks)
        {
            if (ConfigurationChecks.TryParseNetwork(text, out var network))
            {
                yield return network;
            }
        }
    }

    /// <summary>Splits <c>host</c>, <c>host:port</c> or <c>[v6]:port</c>; the host comes back lower-case without brackets, the port -1 when malformed.</summary>
    internal static (string Host, int? Port) SplitHostPort(string text)
    {
        text = text.Trim();

        // An IPv6 address without brackets cannot carry a port; it stands for itself.
        if (IPAddress.TryParse(text, out var literal) && literal.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !text.StartsWith('['))
        {
            return (ServerName.NormalizeHost(text), null);
        }

        return ServerName.TryParse(text, out var serverName)
            ? (serverName.Host, serverName.Port)
            : (ServerName.NormalizeHost(text), -1);
    }
}
