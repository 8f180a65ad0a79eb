namespace MessengerProxy.LowBandwidth.Configuration;

/// <summary>Settings of the MSC3079 front door (configuration section <c>LowBandwidth</c>).</summary>
internal sealed class LowBandwidthOptions
{
    public const string SectionName = "LowBandwidth";

    /// <summary>Run the front door: DTLS when <see cref="CertificatePath"/> is set, plain CoAP when <see cref="PlainPort"/> is.</summary>
    public bool Enabled { get; set; }

    /// <summary>UDP port for CoAP over DTLS (the MSC recommends the homeserver's client port, 8008).</summary>
    public int Port { get; set; } = 8008;

    public string BindAddress { get; set; } = "*";

    /// <summary>Port announced in <c>/versions</c> (<c>dtls</c>), when clients reach the front door through a different port (NAT, load balancer). 0: <see cref="Port"/>.</summary>
    public int AdvertisedPort { get; set; }

    /// <summary>PEM certificate (chain) for DTLS; ECDSA P-256 keeps handshakes small, RSA works too.</summary>
    public string CertificatePath { get; set; } = string.Empty;

    public string KeyPath { get; set; } = string.Empty;

    /// <summary>
    /// Also accept plain CoAP (no DTLS) on this UDP port (0: any free port): for tests and for a DTLS
    /// terminator in front of the proxy only. Unset: off. Never expose it: access tokens would travel in clear.
    /// </summary>
    public int? PlainPort { get; set; }

    /// <summary>Address of the plain CoAP listener; loopback unless set otherwise.</summary>
    public string PlainBindAddress { get; set; } = "localhost";

    /// <summary>Host header of the translated requests (the homeserver sees it as the client's).</summary>
    public string HostHeader { get; set; } = "localhost";

    /// <summary>Public base URL of the front door; login and <c>.well-known</c> <c>base_url</c> are rewritten to it when set.</summary>
    public string? AdvertisedBaseUrl { get; set; }

    /// <summary>Block size of blockwise transfers (16..1024; MSC3079 clients use 1024).</summary>
    public int BlockSize { get; set; } = 1024;

    /// <summary>How long a request may wait for the homeserver before an empty ACK goes out and the answer follows as a separate response.</summary>
    public TimeSpan AckDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>RFC 7252 ACK_TIMEOUT for the proxy's own confirmable messages (separate responses, notifications).</summary>
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>RFC 7252 MAX_RETRANSMIT.</summary>
    public int MaxRetransmit { get; set; } = 4;

    /// <summary>The <c>timeout</c> of the proxy's long-polls of /sync for an observing client.</summary>
    public TimeSpan ObserveLongPoll { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an association may stay silent before it is forgotten.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Most associations at once; new handshakes beyond it are refused.</summary>
    public int MaxAssociations { get; set; } = 10_000;

    /// <summary>Most DTLS handshakes in progress at once.</summary>
    public int MaxConcurrentHandshakes { get; set; } = 64;

    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most DTLS handshakes in progress from one /24 (IPv4) or /64 (IPv6); carrier-grade NAT puts many phones behind few addresses.</summary>
    public int MaxHandshakesPerSourceNetwork { get; set; } = 16;

    /// <summary>A handshake whose peer has sent nothing after its ClientHello (with cookie) is ended after this long, instead of holding its slot for <see cref="HandshakeTimeout"/>.</summary>
    public TimeSpan HandshakeStallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Requests one association may have in progress at once (RFC 7252's NSTART is 1); more get 5.03.</summary>
    public int MaxRequestsInFlight { get; set; } = 8;

    /// <summary>Largest request body a client may send (after blockwise assembly).</summary>
    public int MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest homeserver answer relayed (a first /sync can be large; it is sent blockwise).</summary>
    public int MaxResponseBodyBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Memory for request bodies being assembled from Block1 blocks and answers kept for their Block2 blocks, across
    /// all associations; the least recently used are dropped for newer ones, a body larger than all of it gets 5.03.
    /// </summary>
    public int MaxBufferedBodyBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>An unfinished Block1 upload with no new block for this long is dropped; its later blocks get 4.08.</summary>
    public TimeSpan UploadIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Deepest CBOR/JSON nesting converted.</summary>
    public int MaxCborDepth { get; set; } = 64;

    /// <summary>Use the CBOR key table towards clients that did not ask for it with option 257 nor sent integer keys (the MSC says not to).</summary>
    public bool IntegerKeysByDefault { get; set; }

    /// <summary>File for DTLS session keys in NSS key log format (for Wireshark), like SSLKEYLOGFILE; empty: off.</summary>
    public string? KeyLogFile { get; set; }
}
