using System.Globalization;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>
/// One homeserver of the test federation as an operator deploys it: a Synapse and the messenger proxy in front
/// of it (inbound TLS for clients and federation, outbound CONNECT proxy with its own CA, optionally the
/// low-bandwidth front door). Ports are chosen before anything starts, since every proxy must know the
/// others' federation ports (its allowed outbound ports) and every Synapse its server name.
/// </summary>
public sealed class HomeserverNode
{
    public HomeserverNode(string name, bool listed, bool frontDoor)
    {
        Name = name;
        Listed = listed;
        ProxyPort = LoopbackPorts.Tcp();
        OutboundPort = LoopbackPorts.Tcp();
        HealthPort = LoopbackPorts.Tcp();
        InformationPort = LoopbackPorts.Tcp();
        SynapsePort = LoopbackPorts.Tcp();
        DtlsPort = frontDoor ? LoopbackPorts.Udp() : 0;
    }

    /// <summary>hs1, hs2, hs3.</summary>
    public string Name { get; }

    /// <summary>The DNS name (in the chroot's hosts file and the proxies' Outbound:HostAddresses).</summary>
    public string Host => Name + ".test";

    /// <summary>
    /// The Matrix server name carries the federation port: Synapse then connects to exactly that host and
    /// port, with no <c>.well-known</c> and no SRV look-up (the spec's server discovery, step 2).
    /// </summary>
    public string ServerName => $"{Host}:{ProxyPort}";

    /// <summary>The password of the Synapse admin <c>@admin:…</c>, chosen before anything starts: the proxy logs in with it.</summary>
    public string AdminPassword { get; } = "admin-" + Guid.NewGuid().ToString("N");

    public string AdminUserId => $"@admin:{ServerName}";

    /// <summary>A short orphaned-room threshold for this node's proxy (the cleanup step); null keeps the default.</summary>
    public TimeSpan? OrphanedRoomThreshold { get; init; }

    /// <summary>Where the node's proxy reports raw data (the fixture's stand-in collector); null: reporting off.</summary>
    public string? RawDataCollectorUrl { get; set; }

    /// <summary>Whether the registration service lists this server.</summary>
    public bool Listed { get; }

    /// <summary>The proxy's public TLS listener, clients and federation.</summary>
    public int ProxyPort { get; }

    public int OutboundPort { get; }

    public int HealthPort { get; }

    /// <summary>The proxy's TI-M information API (plain HTTP on loopback).</summary>
    public int InformationPort { get; }

    public int SynapsePort { get; }

    /// <summary>UDP port of the front door (CoAP over DTLS); 0 when this node has none.</summary>
    public int DtlsPort { get; }

    public string ClientUrl => $"https://{ServerName}";

    public TestCertificateAuthority ProxyCa { get; internal set; } = null!;

    /// <summary>Host paths of this node's files (certificates, keys, the proxy's cache file).</summary>
    public string Directory { get; internal set; } = null!;

    public string ProxyCaPath => Path.Combine(Directory, "proxy-ca.pem");

    public string ProxyCaKeyPath => Path.Combine(Directory, "proxy-ca.key");

    public string TlsCertificatePath => Path.Combine(Directory, "inbound.crt");

    public string TlsKeyPath => Path.Combine(Directory, "inbound.key");

    public string DtlsCertificatePath => Path.Combine(Directory, "dtls.crt");

    public string DtlsKeyPath => Path.Combine(Directory, "dtls.key");

    public ProxyProcess Proxy { get; internal set; } = null!;

    public SynapseServer Synapse { get; internal set; } = null!;

    public string UserId(string localpart) => $"@{localpart}:{ServerName}";

    public override string ToString() => Name;
}

/// <summary>
/// The proxy configuration of every node, in one place. Today's product: one inbound listener serving
/// client and federation APIs over TLS (<c>Inbound:Port</c>, <c>Inbound:TlsCertificatePath</c>/<c>TlsKeyPath</c>)
/// plus the outbound proxy. When the inbound side gets several listeners (issue 12, section 2), only
/// <see cref="InboundListener"/> changes (to <c>Inbound:Listeners:0:*</c> with <c>Apis</c>).
/// </summary>
public static class ProxyConfiguration
{
    /// <summary>How often proxies poll the registration service; short, so a stopped service shows within the test.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    public static List<string> Arguments(HomeserverNode node, IReadOnlyList<HomeserverNode> all, Uri registrationService)
    {
        var settings = new List<string>();
        settings.AddRange(InboundListener(node));
        settings.AddRange(
        [
            $"Inbound:HomeserverUrl=http://127.0.0.1:{node.SynapsePort}",
            $"Inbound:PublicBaseUrl={node.ClientUrl}",
            $"WellKnown:Server={node.ServerName}",
            $"Health:Port={node.HealthPort}",
            "Health:BindAddress=127.0.0.1",
            $"TimInformation:Port={node.InformationPort}",
            "TimInformation:BindAddress=127.0.0.1",
            $"Federation:ServerName={node.ServerName}",
            $"Federation:RegistrationServiceUrl={registrationService.ToString().TrimEnd('/')}",
            $"Federation:PollInterval={PollInterval.ToString("c", CultureInfo.InvariantCulture)}",
            $"Federation:CacheFile={Path.Combine(node.Directory, "federation-list.json")}",
            $"Outbound:Port={node.OutboundPort}",
            "Outbound:BindAddress=127.0.0.1",
            $"Outbound:CaCertificatePath={node.ProxyCaPath}",
            $"Outbound:CaKeyPath={node.ProxyCaKeyPath}",
            // The test servers live on loopback, which the outbound proxy refuses unless allowed.
            "Outbound:AllowedNetworks:0=127.0.0.0/8",
            // Each proxy's TLS certificate comes from the federation test CA (a public CA in production).
            $"Outbound:TrustedCaPaths:0={Path.Combine(Path.GetDirectoryName(node.Directory)!, "federation-ca.pem")}",
            // The invite check and the cleanup use Synapse's admin API, logging in as the admin the fixture registers.
            $"Tim:Admin:User={node.AdminUserId}",
            $"Tim:Admin:Password={node.AdminPassword}",
            // The cleanup runs only when a test triggers it (POST /actuator/orphaned-rooms).
            "Tim:OrphanedRooms:FirstRunDelay=1.00:00:00",
        ]);
        if (node.OrphanedRoomThreshold is { } threshold)
        {
            settings.Add($"Tim:OrphanedRooms:Threshold={threshold.ToString("c", CultureInfo.InvariantCulture)}");
        }
        if (node.RawDataCollectorUrl is { } collector)
        {
            settings.AddRange([$"RawData:CollectorUrl={collector}", $"RawData:InstanceId=e2e-{node.Name}", $"RawData:MatrixDomain={node.ServerName}",
                "RawData:ProfessionOid=1.2.276.0.76.4.53", $"RawData:TelematikId=1-{node.Name}"]);
        }

        for (var i = 0; i < all.Count; i++)
        {
            settings.Add($"Outbound:AllowedPorts:{i}={all[i].ProxyPort}");
            settings.Add($"Outbound:HostAddresses:{all[i].Host}=127.0.0.1");
        }

        if (node.DtlsPort != 0)
        {
            settings.AddRange(
            [
                "LowBandwidth:Enabled=true",
                $"LowBandwidth:Port={node.DtlsPort}",
                "LowBandwidth:BindAddress=127.0.0.1",
                $"LowBandwidth:CertificatePath={node.DtlsCertificatePath}",
                $"LowBandwidth:KeyPath={node.DtlsKeyPath}",
            ]);
        }

        return settings.Select(s => "--" + s).ToList();
    }

    /// <summary>The public listener: clients and federation on one TLS port.</summary>
    private static IEnumerable<string> InboundListener(HomeserverNode node) =>
    [
        $"Inbound:Port={node.ProxyPort}",
        "Inbound:BindAddress=127.0.0.1",
        $"Inbound:TlsCertificatePath={node.TlsCertificatePath}",
        $"Inbound:TlsKeyPath={node.TlsKeyPath}",
    ];
}
