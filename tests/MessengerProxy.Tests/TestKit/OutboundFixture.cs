using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.TestKit;

/// <summary>
/// The outbound proxy with everything around it on loopback: a remote homeserver stand-in serving HTTPS
/// with a certificate of its own test CA (trusted by the proxy through configuration), a second remote
/// whose CA nobody trusts, a plain-HTTP push gateway, a registration service publishing the federation
/// list, and the proxy CA that clients (curl, HttpClient) trust. Test host names resolve to 127.0.0.1 in
/// the proxy only (Outbound:HostAddresses), and loopback is explicitly allowed for them. Two more remotes
/// answer every request with 101 Switching Protocols: <c>switch.test</c> (listed) and <c>switch-extra.test</c>
/// (an extra host) over TLS, <c>switch-push.test</c> (a <c>host:port</c> extra host) over plain HTTP.
/// <c>deleg-src.test</c> is configured to delegate to <c>other.test</c>, a listed host in its own right.
/// <c>unresolvable.test</c> is listed but has no fixed address (so the proxy asks DNS, which knows no such
/// name); <c>intranet.test</c> is unlisted and fixed to an internal address. Every log line is in <see cref="Logs"/>.
/// </summary>
public class OutboundFixture : IAsyncLifetime
{
    public const string OwnServerName = "own.test";

    /// <summary>Names in the remote's certificate; all but <c>unlisted.test</c> are in the federation list.</summary>
    public static readonly string[] RemoteNames = ["remote.test", "deleg-src.test", "deleg-target.test", "unlisted.test", "other.test", "sso.test"];

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mp-outbound-" + Guid.NewGuid().ToString("N"));

    public TestCertificateAuthority ProxyCa { get; private set; } = null!;

    public TestCertificateAuthority RemoteCa { get; private set; } = null!;

    public TestCertificateAuthority RogueCa { get; private set; } = null!;

    public string ProxyCaPath { get; private set; } = null!;

    public string ProxyCaKeyPath { get; private set; } = null!;

    public string RemoteCaPath { get; private set; } = null!;

    /// <summary>The remote homeserver(s): one HTTPS server answering for every name in <see cref="RemoteNames"/>.</summary>
    public RecordingUpstream Remote { get; private set; } = null!;

    /// <summary>An HTTPS server for <c>rogue.test</c> (listed) whose certificate comes from a CA the proxy does not trust.</summary>
    public RecordingUpstream Rogue { get; private set; } = null!;

    /// <summary>A plain-HTTP push gateway, <c>push.test</c>, configured as an extra host.</summary>
    public RecordingUpstream Push { get; private set; } = null!;

    /// <summary>TLS remote for <c>switch.test</c> and <c>switch-extra.test</c> that answers everything with 101.</summary>
    public SwitchingUpstream Switching { get; private set; } = null!;

    /// <summary>Plain-HTTP remote for <c>switch-push.test</c> that answers everything with 101.</summary>
    public SwitchingUpstream SwitchingPlain { get; private set; } = null!;

    public FakeRegistrationService Registration { get; private set; } = null!;

    public LogCapture Logs { get; } = new();

    public ProxyHost Proxy { get; private set; } = null!;

    public int RemotePort => Remote.BaseUri.Port;

    public int RoguePort => Rogue.BaseUri.Port;

    public int PushPort => Push.BaseUri.Port;

    public int SwitchingPort => Switching.Port;

    public int SwitchingPlainPort => SwitchingPlain.Port;

    public int ProxyPort => Proxy.OutboundPort;

    protected virtual IEnumerable<string> ExtraSettings => [];

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        ProxyCa = TestCertificateAuthority.Create("CN=Test Outbound Proxy CA");
        RemoteCa = TestCertificateAuthority.Create("CN=Test Remote CA");
        RogueCa = TestCertificateAuthority.Create("CN=Test Rogue CA");
        (ProxyCaPath, ProxyCaKeyPath) = ProxyCa.WritePem(_directory, "proxy-ca");
        (RemoteCaPath, _) = RemoteCa.WritePem(_directory, "remote-ca");

        Remote = await RecordingUpstream.StartAsync(RemoteCa.IssueServer(RemoteNames));
        Remote.Respond = RespondAsRemoteAsync;
        Rogue = await RecordingUpstream.StartAsync(RogueCa.IssueServer("rogue.test"));
        Push = await RecordingUpstream.StartAsync();
        Switching = SwitchingUpstream.Start(RemoteCa.IssueServer("switch.test", "switch-extra.test"));
        SwitchingPlain = SwitchingUpstream.Start();
        Registration = await FakeRegistrationService.StartAsync("remote.test", "deleg-src.test", "other.test", "rogue.test", "nocert.test", "switch.test", "unresolvable.test");

        var settings = new List<string>
        {
            $"Federation:RegistrationServiceUrl={Registration.Url}",
            $"Federation:ServerName={OwnServerName}",
            $"Outbound:CaCertificatePath={ProxyCaPath}",
            $"Outbound:CaKeyPath={ProxyCaKeyPath}",
            $"Outbound:AllowedPorts:0={RemotePort}",
            $"Outbound:AllowedPorts:1={RoguePort}",
            "Outbound:AllowedPorts:2=8448",
            $"Outbound:AllowedPorts:3={SwitchingPort}",
            "Outbound:AllowedNetworks:0=127.0.0.1",
            $"Outbound:TrustedCaPaths:0={RemoteCaPath}",
            $"Outbound:ExtraHosts:0=push.test:{PushPort}",
            "Outbound:ExtraHosts:1=sso.test",
            "Outbound:ExtraHosts:2=switch-extra.test",
            $"Outbound:ExtraHosts:3=switch-push.test:{SwitchingPlainPort}",
            "Outbound:HostAddresses:intranet.test=10.1.2.3",
            "Outbound:Delegations:deleg-src.test=other.test",
            "Outbound:MaxRequestBodyBytes=65536",
            "Outbound:HandshakeTimeout=00:00:02",
            "Outbound:RequestHeadTimeout=00:00:02",
            "Outbound:UpstreamTimeout=00:00:03",
            "Outbound:RelayIdleTimeout=00:00:02",
        };
        foreach (var name in RemoteNames.Concat(["rogue.test", "nocert.test", "push.test", "switch.test", "switch-extra.test", "switch-push.test"]))
        {
            settings.Add($"Outbound:HostAddresses:{name}=127.0.0.1");
        }

        settings.AddRange(ExtraSettings);
        Proxy = await ProxyHost.StartAsync(Push.BaseUri.ToString().TrimEnd('/'), builder => builder.Logging.AddProvider(Logs), settings.ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Remote.DisposeAsync();
        await Rogue.DisposeAsync();
        await Push.DisposeAsync();
        await Switching.DisposeAsync();
        await SwitchingPlain.DisposeAsync();
        await Registration.DisposeAsync();
        ProxyCa.Dispose();
        RemoteCa.Dispose();
        RogueCa.Dispose();
        TestDirectories.Delete(_directory);
        GC.SuppressFinalize(this);
    }

    /// <summary>curl through the proxy given as a URL (e.g. with credentials), trusting the proxy CA.</summary>
    public async Task<(string TestId, int ExitCode, string Stdout, string Stderr)> CurlViaAsync(string proxyUrl, params string[] args)
    {
        var id = Guid.NewGuid().ToString("N");
        var (exit, stdout, stderr) = await Curl.RunAsync(
            ["--proxy", proxyUrl, "--cacert", ProxyCaPath, "--path-as-is", "-H", $"{RecordingUpstream.TestIdHeader}: {id}", .. args]);
        return (id, exit, stdout, stderr);
    }

    /// <summary>curl through the proxy with the given CA file instead of the proxy CA.</summary>
    public async Task<(string TestId, int ExitCode, string Stdout, string Stderr)> CurlTrustingAsync(string caPath, params string[] args)
    {
        var id = Guid.NewGuid().ToString("N");
        var (exit, stdout, stderr) = await Curl.RunAsync(
            ["--proxy", $"http://127.0.0.1:{ProxyPort}", "--cacert", caPath, "--path-as-is", "-H", $"{RecordingUpstream.TestIdHeader}: {id}", .. args]);
        return (id, exit, stdout, stderr);
    }

    public static string XMatrix(string destination, string origin = OwnServerName) =>
        $"X-Matrix origin=\"{origin}\",destination=\"{destination}\",key=\"ed25519:a1\",sig=\"c2lnbmF0dXJl\"";

    /// <summary>curl through the proxy, trusting only the proxy CA; a fresh test id header is added and returned.</summary>
    public async Task<(string TestId, int ExitCode, string Stdout, string Stderr)> CurlAsync(params string[] args)
    {
        var id = Guid.NewGuid().ToString("N");
        var (exit, stdout, stderr) = await Curl.RunAsync(
            ["--proxy", $"http://127.0.0.1:{ProxyPort}", "--cacert", ProxyCaPath, "--path-as-is", "-H", $"{RecordingUpstream.TestIdHeader}: {id}", .. args]);
        return (id, exit, stdout, stderr);
    }

    public string RemoteUrl(string path, string host = "remote.test") => $"https://{host}:{RemotePort}{path}";

    /// <summary>Opens a CONNECT tunnel by hand (the proxy must answer 200) and returns the TLS stream inside.</summary>
    public async Task<(RawResponse? Refusal, SslStream Tls, TcpClient Client)> OpenTunnelAsync(string host, int port, string? serverName = null)
    {
        var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", ProxyPort, TestContext.Current.CancellationToken);
        var stream = client.GetStream();
        var authority = host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"), TestContext.Current.CancellationToken);
        var status = await ReadConnectStatusAsync(stream);
        Assert.True(status == 200, $"CONNECT {authority} was answered {status}");

        var tls = new SslStream(stream, leaveInnerStreamOpen: false, ProxyCa.Validator);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = serverName ?? host }, TestContext.Current.CancellationToken);
        return (null, tls, client);
    }

    /// <summary>Sends one request inside an open tunnel and reads its response.</summary>
    public static async Task<RawResponse> SendInTunnelAsync(Stream tls, string method, string target, string host, string extraHeaders = "", string body = "")
    {
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var head = $"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extraHeaders}"
            + (bodyBytes.Length > 0 || method is "POST" or "PUT" ? $"Content-Length: {bodyBytes.Length}\r\n" : string.Empty) + "\r\n";
        await tls.WriteAsync(Encoding.Latin1.GetBytes(head), TestContext.Current.CancellationToken);
        await tls.WriteAsync(bodyBytes, TestContext.Current.CancellationToken);
        return await RawHttp.ReadResponseAsync(tls, method == "HEAD", TestContext.Current.CancellationToken);
    }

    /// <summary>Reads the CONNECT answer's status line and headers only (a 200 has no body; the TLS bytes follow).</summary>
    private static async Task<int> ReadConnectStatusAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 16 * 1024)
        {
            if (await stream.ReadAsync(one, TestContext.Current.CancellationToken) == 0)
            {
                break;
            }

            head.Add(one[0]);
            if (head.Count >= 4 && head[^1] == '\n' && head[^2] == '\r' && head[^3] == '\n' && head[^4] == '\r')
            {
                break;
            }
        }

        var text = Encoding.ASCII.GetString(head.ToArray());
        var parts = text.Split(' ', 3);
        return parts.Length >= 2 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status) ? status : -1;
    }

    private Task RespondAsRemoteAsync(HttpContext context, RecordedRequest request)
    {
        if (request.RawTarget == "/.well-known/matrix/server")
        {
            context.Response.ContentType = "application/json";
            var host = (request.Header("Host") ?? string.Empty).Split(':')[0];
            if (host == "deleg-src.test")
            {
                return context.Response.WriteAsync($$"""{"m.server":"deleg-target.test:{{RemotePort}}"}""");
            }

            context.Response.StatusCode = 404;
            return context.Response.WriteAsync("""{"errcode":"M_NOT_FOUND","error":"no delegation"}""");
        }

        if (request.RawTarget.Contains("slowpoke", StringComparison.Ordinal))
        {
            return Task.Delay(TimeSpan.FromSeconds(10), context.RequestAborted);
        }

        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new { ok = true, host = request.Header("Host"), target = request.RawTarget });
    }

    /// <summary>The same set-up with proxy credentials required.</summary>
    public sealed class WithCredentials : OutboundFixture
    {
        public const string User = "synapse";
        public const string Password = "s3cret: with colon";

        protected override IEnumerable<string> ExtraSettings => [$"Outbound:ProxyUser={User}", $"Outbound:ProxyPassword={Password}"];
    }

    /// <summary>The same set-up with hosts outside the federation refused at the CONNECT, as before readable refusals.</summary>
    public class RefusingUnlistedAtConnect : OutboundFixture
    {
        protected override IEnumerable<string> ExtraSettings => ["Outbound:RefuseUnlistedInsideTunnel=false"];
    }

    /// <summary>The same set-up with a budget of two certificates a day for hosts outside the federation.</summary>
    public sealed class WithSmallUnlistedBudget : OutboundFixture
    {
        protected override IEnumerable<string> ExtraSettings => ["Outbound:UnlistedCertificateMints=2", "Outbound:UnlistedCertificateMintPeriod=1.00:00:00"];
    }

    /// <summary>The same set-up with the registration service unreachable and no saved list: federation is suspended.</summary>
    public sealed class WithoutFederationList : OutboundFixture
    {
        protected override IEnumerable<string> ExtraSettings => ["Federation:RegistrationServiceUrl=http://127.0.0.1:1"];
    }

    /// <summary>The same set-up with TLS of extra hosts intercepted as well.</summary>
    public sealed class InterceptingExtraHosts : OutboundFixture
    {
        protected override IEnumerable<string> ExtraSettings => ["Outbound:InterceptExtraHosts=true"];
    }
}
