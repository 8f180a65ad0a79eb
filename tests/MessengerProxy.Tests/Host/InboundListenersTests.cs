using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using MessengerProxy.Host;
using MessengerProxy.Hosting.Startup;
using MessengerProxy.LowBandwidth;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.Host;

/// <summary>
/// One proxy process with two inbound listeners, plain HTTP for clients and TLS for federation (as on 8448),
/// each on a port chosen at run time: each refuses the other's API as an unknown endpoint and forwards none
/// of it; the CoAP front door counts as a client listener.
/// </summary>
public sealed class InboundListenersTests(InboundListenersTests.Fixture fixture) : IClassFixture<InboundListenersTests.Fixture>
{
    private const string XMatrix = "Authorization: X-Matrix origin=ex.org,destination=matrix.example.org,key=\"ed25519:1\",sig=\"c2ln\"\r\n";

    [Theory]
    [InlineData("GET", "/_matrix/client/v3/rooms/%21r%3Aex.org/event/%24e", "")]
    [InlineData("GET", "/_matrix/client/v1/media/config", "")]
    [InlineData("GET", "/_matrix/media/v3/config", "")]
    [InlineData("POST", "/_matrix/client/v3/login", "{}")]
    public async Task ClientListener_ForwardsTheClientApi(string method, string target, string body)
    {
        var id = Guid.NewGuid().ToString("N");

        var response = await RawHttp.SendAsync(fixture.ClientPort,
            RawHttp.Request(method, target, $"Authorization: Bearer t\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n", body));

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(target, fixture.Upstream.Single(id).RawTarget);
    }

    [Fact]
    public async Task ClientListener_AnswersWellKnownClientAndServer()
    {
        var client = await RawHttp.SendAsync(fixture.ClientPort, RawHttp.Request("GET", "/.well-known/matrix/client"));
        var server = await RawHttp.SendAsync(fixture.ClientPort, RawHttp.Request("GET", "/.well-known/matrix/server"));

        Assert.Equal(200, client.StatusCode);
        Assert.Equal(Fixture.PublicBaseUrl, JsonDocument.Parse(client.Body).RootElement.GetProperty("m.homeserver").GetProperty("base_url").GetString());
        // Other servers fetch /.well-known/matrix/server from port 443 of the server name, which is usually the client port.
        Assert.Equal(200, server.StatusCode);
        Assert.Equal(Fixture.ServerName, JsonDocument.Parse(server.Body).RootElement.GetProperty("m.server").GetString());
    }

    [Theory]
    [InlineData("GET", "/_matrix/federation/v1/version", "", "")]
    [InlineData("GET", "/_matrix/key/v2/server", "", "")]
    [InlineData("POST", "/_matrix/key/v2/query", "", "{}")]
    [InlineData("PUT", "/_matrix/federation/v1/send/txn1", XMatrix, "{\"pdus\":[]}")]
    [InlineData("GET", "/_matrix/federation/v1/media/download/m1", XMatrix, "")]
    [InlineData("OPTIONS", "/_matrix/key/v2/server", "Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n", "")]
    [InlineData("DELETE", "/_matrix/key/v2/server", "", "")]
    public async Task ClientListener_RefusesFederationAndKeyEndpoints_NeverForwarded(string method, string target, string headers, string body)
    {
        var id = Guid.NewGuid().ToString("N");

        var response = await RawHttp.SendAsync(fixture.ClientPort,
            RawHttp.Request(method, target, $"{headers}{RecordingUpstream.TestIdHeader}: {id}\r\n", body));

        AssertUnrecognized(response.StatusCode, response.BodyText);
        Assert.Null(response.Header("Allow"));
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
    }

    [Theory]
    [InlineData("GET", "/_matrix/key/v2/server", "")]
    [InlineData("PUT", "/_matrix/federation/v1/send/txn2", "{\"pdus\":[]}")]
    public async Task FederationListener_OverTls_ForwardsFederationAndKeyEndpoints(string method, string target, string body)
    {
        var id = Guid.NewGuid().ToString("N");

        var (status, _, _) = await fixture.CurlFederationAsync(method, target, id, body, "-H", XMatrix.TrimEnd());

        Assert.Equal(200, status);
        var seen = fixture.Upstream.Single(id);
        Assert.Equal(target, seen.RawTarget);
        Assert.Equal("https", seen.Header("X-Forwarded-Proto"));
    }

    [Fact]
    public async Task FederationListener_AnswersWellKnownServer_AndPreflightOfItsOwnEndpoints()
    {
        var (status, body, _) = await fixture.CurlFederationAsync("GET", "/.well-known/matrix/server", Guid.NewGuid().ToString("N"));
        var (preflight, _, _) = await fixture.CurlFederationAsync("OPTIONS", "/_matrix/key/v2/server", Guid.NewGuid().ToString("N"), "",
            "-H", "Origin: https://app.example", "-H", "Access-Control-Request-Method: GET");

        Assert.Equal(200, status);
        Assert.Equal(Fixture.ServerName, JsonDocument.Parse(body).RootElement.GetProperty("m.server").GetString());
        Assert.InRange(preflight, 200, 204);
    }

    [Theory]
    [InlineData("GET", "/_matrix/client/versions", "")]
    [InlineData("POST", "/_matrix/client/v3/login", "{}")]
    [InlineData("GET", "/_matrix/client/v3/rooms/%21r%3Aex.org/event/%24e", "")]
    [InlineData("GET", "/_matrix/media/v3/config", "")]
    [InlineData("GET", "/_matrix/client/v1/media/download/ex.org/m1", "")]
    [InlineData("POST", "/_matrix/media/v3/upload", "data")]
    [InlineData("GET", "/.well-known/matrix/client", "")]
    [InlineData("GET", "/.well-known/matrix/support", "")]
    [InlineData("OPTIONS", "/_matrix/client/v3/login", "")]
    [InlineData("DELETE", "/_matrix/client/v3/login", "")]
    public async Task FederationListener_RefusesClientEndpoints_NeverForwarded(string method, string target, string body)
    {
        var id = Guid.NewGuid().ToString("N");

        var (status, text, _) = await fixture.CurlFederationAsync(method, target, id, body, "-H", "Authorization: Bearer t");

        AssertUnrecognized(status, text);
        Assert.Empty(fixture.Upstream.HeadsWithTestId(id));
    }

    [Fact]
    public async Task FederationListener_OverHttp2_ServesFederation_RefusesClients()
    {
        var federation = Guid.NewGuid().ToString("N");
        var client = Guid.NewGuid().ToString("N");

        var (served, _, version) = await fixture.CurlFederationAsync("GET", "/_matrix/key/v2/server", federation, "", "--http2");
        var (refused, text, refusedVersion) = await fixture.CurlFederationAsync("GET", "/_matrix/client/v3/account/whoami", client, "", "--http2", "-H", "Authorization: Bearer t");

        Assert.Equal(200, served);
        Assert.Equal("2", version);
        Assert.Equal("2", refusedVersion);
        Assert.Equal("/_matrix/key/v2/server", fixture.Upstream.Single(federation).RawTarget);
        AssertUnrecognized(refused, text);
        Assert.Empty(fixture.Upstream.HeadsWithTestId(client));
    }

    [Fact]
    public async Task WrongListenerRefusals_AreCountedByListenerAndFamily_AndLoggedWithTheListener()
    {
        const string ClientRefusedKeys = "messengerproxy_inbound_listener_refusals_total{family=\"keys\",listener=\"client\"} ";
        const string FederationRefusedClient = "messengerproxy_inbound_listener_refusals_total{family=\"client\",listener=\"federation\"} ";
        var before = await fixture.MetricsAsync();

        await RawHttp.SendAsync(fixture.ClientPort, RawHttp.Request("GET", "/_matrix/key/v2/query/remote.example.org"));
        await fixture.CurlFederationAsync("GET", "/_matrix/client/v3/profile/%40alice%3Aex.org", Guid.NewGuid().ToString("N"));

        var after = await fixture.MetricsAsync();
        Assert.Equal(Counter(before, ClientRefusedKeys) + 1, Counter(after, ClientRefusedKeys));
        Assert.Equal(Counter(before, FederationRefusedClient) + 1, Counter(after, FederationRefusedClient));
        var line = Assert.Single(fixture.Logs.Lines, l => l.Contains("RequestRejected", StringComparison.Ordinal) && l.Contains("/_matrix/client/v3/profile/", StringComparison.Ordinal));
        Assert.Contains("not served on Inbound:Listeners:1 (federation)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("alice", line, StringComparison.Ordinal);
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("RequestRejected", StringComparison.Ordinal) && l.Contains("not served on Inbound:Listeners:0 (client)", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/_matrix/federation/v1/openid/userinfo?access_token=coapfed")]
    [InlineData("/_matrix/key/v2/query/coapfed.example.org")]
    public async Task FrontDoor_CountsAsAClientListener_RefusesFederation(string path)
    {
        using var client = new CoapTestClient(fixture.FrontDoor);

        var response = await client.RequestAsync(client.Request(1, path));

        Assert.Equal("4.04", CoapMessage.FormatCode(response.Code));
        Assert.DoesNotContain(fixture.Upstream.Requests, r => r.RawTarget.Contains("coapfed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FrontDoor_ForwardsTheClientApi()
    {
        using var client = new CoapTestClient(fixture.FrontDoor);

        var response = await client.RequestAsync(client.Request(1, "/_matrix/client/v3/profile/%40coapclient%3Aex.org",
            CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "t")));

        Assert.Equal("2.05", CoapMessage.FormatCode(response.Code));
        Assert.Contains(fixture.Upstream.Requests, r => r.RawTarget == "/_matrix/client/v3/profile/@coapclient:ex.org");
    }

    [Fact]
    public async Task SingleListenerKeys_StillServeBothApisOnOnePort()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));
        var client = Guid.NewGuid().ToString("N");
        var federation = Guid.NewGuid().ToString("N");

        var clientResponse = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/versions", $"{RecordingUpstream.TestIdHeader}: {client}\r\n"));
        var federationResponse = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/key/v2/server", $"{RecordingUpstream.TestIdHeader}: {federation}\r\n"));

        Assert.Equal(200, clientResponse.StatusCode);
        Assert.Equal(200, federationResponse.StatusCode);
        Assert.Equal("/_matrix/client/versions", upstream.Single(client).RawTarget);
        Assert.Equal("/_matrix/key/v2/server", upstream.Single(federation).RawTarget);
    }

    [Theory]
    [InlineData("Inbound:Listeners:0:Apis must be 'client', 'federation' or both, comma-separated (got 'client,media': 'media' is unknown)",
        "Inbound:Listeners:0:Port=0", "Inbound:Listeners:0:Apis=client,media")]
    [InlineData("Inbound:Listeners:0:Apis must be 'client', 'federation' or both, comma-separated (got ',')",
        "Inbound:Listeners:0:Port=0", "Inbound:Listeners:0:Apis=,")]
    [InlineData("Inbound:Listeners:0:Port, Inbound:Listeners:1:Port share port 48091; every listener needs its own port",
        "Inbound:Listeners:0:Port=48091", "Inbound:Listeners:1:Port=48091")]
    [InlineData("Health:Port, Inbound:Listeners:1:Port share port 48092",
        "Health:Port=48092", "Inbound:Listeners:0:Port=0", "Inbound:Listeners:1:Port=48092")]
    [InlineData("Inbound:Listeners:0:TlsCertificatePath and Inbound:Listeners:0:TlsKeyPath must be set together",
        "Inbound:Listeners:0:Port=0", "Inbound:Listeners:0:TlsCertificatePath=/tmp/x.pem")]
    [InlineData("Inbound:Listeners:1:TlsKeyPath: file '/nonexistent/federation.key' does not exist",
        "Inbound:Listeners:0:Port=0", "Inbound:Listeners:1:Port=0", "Inbound:Listeners:1:TlsCertificatePath=/nonexistent/federation.crt", "Inbound:Listeners:1:TlsKeyPath=/nonexistent/federation.key")]
    [InlineData("Inbound:Listeners:0:Port must be between 0 and 65535 (got 70000)", "Inbound:Listeners:0:Port=70000")]
    [InlineData("Inbound:Listeners:0:Port is required", "Inbound:Listeners:0:Apis=client")]
    [InlineData("Inbound:Listeners:0:BindAddress must be '*', 'localhost' or an IP address (got 'nowhere')", "Inbound:Listeners:0:Port=0", "Inbound:Listeners:0:BindAddress=nowhere")]
    public async Task InvalidListeners_RefuseToStart_NamingTheKey(string expected, params string[] settings)
    {
        var line = await StartFailureAsync(settings);

        Assert.StartsWith("invalid configuration: ", line);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidListeners_EveryErrorIsReported_OnOneLine()
    {
        var line = await StartFailureAsync("Inbound:Listeners:0:Port=70000", "Inbound:Listeners:0:Apis=media",
            "Inbound:Listeners:1:Port=0", "Inbound:Listeners:1:TlsKeyPath=/tmp/x.key", "Inbound:Listeners:2:BindAddress=nowhere");

        Assert.DoesNotContain('\n', line);
        Assert.Contains("Inbound:Listeners:0:Port must be between 0 and 65535 (got 70000)", line, StringComparison.Ordinal);
        Assert.Contains("Inbound:Listeners:0:Apis must be", line, StringComparison.Ordinal);
        Assert.Contains("Inbound:Listeners:1:TlsCertificatePath and Inbound:Listeners:1:TlsKeyPath must be set together", line, StringComparison.Ordinal);
        Assert.Contains("Inbound:Listeners:2:Port is required", line, StringComparison.Ordinal);
        Assert.Contains("Inbound:Listeners:2:BindAddress must be", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Inbound:Port", "--homeserver", "http://synapse:8008", "--health-port", "0", "--Inbound:Port=8090", "--Inbound:Listeners:0:Port=8091")]
    [InlineData("Inbound:Port", "--homeserver", "http://synapse:8008", "--health-port", "0", "--port", "8090", "--Inbound:Listeners:0:Port=8091")]
    [InlineData("Inbound:BindAddress, Inbound:TlsCertificatePath", "--homeserver", "http://synapse:8008", "--health-port", "0", "--Inbound:BindAddress=127.0.0.1", "--Inbound:TlsCertificatePath=/tmp/x.pem", "--Inbound:Listeners:0:Port=8091")]
    public async Task SingleListenerKeysTogetherWithListeners_ExitWithOneReadableLine(string keys, params string[] args)
    {
        var (exitCode, _, stderr) = await ProxyProcess.RunToExitAsync(TimeSpan.FromSeconds(60), [.. args, "--Outbound:Enabled=false"]);

        Assert.Equal(1, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("messenger-proxy: cannot start: invalid configuration: ", line);
        Assert.Contains($"{keys} cannot be combined with Inbound:Listeners", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Theory]
    [InlineData("matrix.example.org", true)]
    [InlineData("[2001:db8::1]", true)]
    [InlineData("matrix.example.org:8448", false)]
    [InlineData("matrix.example.org:443", false)]
    [InlineData("", false)]
    public async Task WellKnownServerWithoutPort_WarnsAtStartUp(string server, bool warns)
    {
        var logs = new LogCapture();
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), b => b.Logging.AddProvider(logs), $"WellKnown:Server={server}");

        var warnings = logs.Lines.Where(l => l.Contains("WellKnownServerWithoutPort", StringComparison.Ordinal)).ToList();

        if (warns)
        {
            var line = Assert.Single(warnings);
            Assert.StartsWith("Warning ", line);
            Assert.Contains($"WellKnown:Server '{server}' names no port", line, StringComparison.Ordinal);
            Assert.Contains("8448", line, StringComparison.Ordinal);
        }
        else
        {
            Assert.Empty(warnings);
        }
    }

    private static double Counter(string metrics, string prefix) =>
        metrics.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
            .Select(l => double.Parse(l[prefix.Length..], System.Globalization.CultureInfo.InvariantCulture)).SingleOrDefault();

    private static void AssertUnrecognized(int status, string body)
    {
        Assert.Equal(404, status);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("M_UNRECOGNIZED", json.RootElement.GetProperty("errcode").GetString());
    }

    /// <summary>Starts the real composition root with <paramref name="settings"/> and returns the line the executable would print.</summary>
    private static async Task<string> StartFailureAsync(params string[] settings)
    {
        string[] args =
        [
            "--Inbound:HomeserverUrl=http://127.0.0.1:1", "--Health:Port=0", "--Health:BindAddress=127.0.0.1",
            "--Outbound:Enabled=false", "--TimInformation:Enabled=false", "--Federation:Enforce=false", .. settings.Select(s => "--" + s),
        ];
        // As in ServiceRunner: configuration errors surface while building or while starting.
        Microsoft.AspNetCore.Builder.WebApplication? app = null;
        try
        {
            app = ProxyApp.Build(args, b => b.Logging.ClearProviders());
            await app.StartAsync(TestContext.Current.CancellationToken);
        }
        catch (Exception ex)
        {
            return ServiceRunner.Describe(ex);
        }
        finally
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }
        }

        Assert.Fail("the proxy started");
        return string.Empty;
    }

    public sealed class Fixture : IAsyncLifetime
    {
        public const string ServerName = "matrix.example.org:8448";
        public const string PublicBaseUrl = "https://matrix.example.org";
        private const string FederationHost = "matrix.example.org";

        private readonly string _directory = Directory.CreateTempSubdirectory("mp-listeners-").FullName;

        public RecordingUpstream Upstream { get; private set; } = null!;

        public ProxyHost Proxy { get; private set; } = null!;

        public LogCapture Logs { get; } = new();

        public int ClientPort { get; private set; }

        public int FederationPort { get; private set; }

        public System.Net.IPEndPoint FrontDoor { get; private set; } = null!;

        private string CaPath => Path.Combine(_directory, "ca.pem");

        public async ValueTask InitializeAsync()
        {
            using var ca = TestCertificateAuthority.Create("CN=Listener Test CA");
            using var certificate = ca.IssueServer(FederationHost);
            await File.WriteAllTextAsync(CaPath, ca.Certificate.ExportCertificatePem());
            var certificatePath = Path.Combine(_directory, "federation.crt");
            var keyPath = Path.Combine(_directory, "federation.key");
            await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem());
            using (var key = certificate.GetECDsaPrivateKey()!)
            {
                await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());
            }

            Upstream = await RecordingUpstream.StartAsync();
            Proxy = await ProxyHost.StartAsync(Upstream.BaseUri.ToString().TrimEnd('/'), b => b.Logging.AddProvider(Logs),
                "Inbound:Listeners:0:Port=0", "Inbound:Listeners:0:BindAddress=127.0.0.1", "Inbound:Listeners:0:Apis=client",
                "Inbound:Listeners:1:Port=0", "Inbound:Listeners:1:BindAddress=127.0.0.1", "Inbound:Listeners:1:Apis=federation",
                $"Inbound:Listeners:1:TlsCertificatePath={certificatePath}", $"Inbound:Listeners:1:TlsKeyPath={keyPath}",
                $"Inbound:PublicBaseUrl={PublicBaseUrl}", $"WellKnown:Server={ServerName}", "WellKnown:ClientMode=Static",
                "LowBandwidth:Enabled=true", "LowBandwidth:PlainPort=0");
            ClientPort = Proxy.ListenerPort(0);
            FederationPort = Proxy.ListenerPort(1);
            FrontDoor = Proxy.Services.GetRequiredService<LowBandwidthServer>().PlainEndPoint!;
        }

        public async ValueTask DisposeAsync()
        {
            if (Proxy is not null)
            {
                await Proxy.DisposeAsync();
            }

            if (Upstream is not null)
            {
                await Upstream.DisposeAsync();
            }

            TestDirectories.Delete(_directory);
        }

        public async Task<string> MetricsAsync() => (await RawHttp.SendAsync(Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

        /// <summary>curl over TLS to the federation listener, trusting the test CA only; returns status, body and HTTP version.</summary>
        public async Task<(int Status, string Body, string HttpVersion)> CurlFederationAsync(string method, string target, string testId, string body = "", params string[] extra)
        {
            List<string> args =
            [
                "--cacert", CaPath, "--resolve", $"{FederationHost}:{FederationPort}:127.0.0.1", "--path-as-is",
                "-X", method, "-H", $"{RecordingUpstream.TestIdHeader}: {testId}", .. extra,
                "--write-out", "\n%{http_version} %{http_code}",
            ];
            if (body.Length > 0)
            {
                args.AddRange(["-H", "Content-Type: application/json", "--data-binary", body]);
            }

            args.Add($"https://{FederationHost}:{FederationPort}{target}");
            var (exitCode, stdout, stderr) = await Curl.RunAsync([.. args]);
            Assert.True(exitCode == 0, stderr);
            var newline = stdout.LastIndexOf('\n');
            var last = stdout[(newline + 1)..].Split(' ');
            return (int.Parse(last[1], System.Globalization.CultureInfo.InvariantCulture), stdout[..newline], last[0]);
        }
    }
}
