using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;
using Npgsql;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>
/// Three real homeservers federating through real proxies, as the product ships them: real PostgreSQL, the
/// registration service listing hs1 and hs2 (not hs3), and per homeserver a Synapse from the Debian chroot,
/// configured from the repository's homeserver.yaml, behind its messenger proxy (the executable, as a process)
/// whose outbound proxy carries all of that Synapse's outgoing traffic. hs1's proxy also runs the front door.
/// Started once for the test class, the servers in parallel. Without root, the chroot or PostgreSQL the tests
/// skip with the reason.
/// </summary>
public sealed class FederationFixture(PostgresFixture postgres) : IAsyncLifetime
{
    private readonly string _runDirectory = Path.Combine(Path.GetTempPath(), "mp-e2e-" + Guid.NewGuid().ToString("N")[..12]);
    private SynapseChroot? _chroot;
    private bool _registrationStopped;

    public string? SkipReason { get; private set; }

    public HomeserverNode Hs1 { get; } = new("hs1", listed: true, frontDoor: true);

    // hs2's proxy deletes orphaned rooms after seconds, not days, when the cleanup step triggers it.
    public HomeserverNode Hs2 { get; } = new("hs2", listed: true, frontDoor: false) { OrphanedRoomThreshold = TimeSpan.FromSeconds(3) };

    public HomeserverNode Hs3 { get; } = new("hs3", listed: false, frontDoor: false);

    public IReadOnlyList<HomeserverNode> Nodes => [Hs1, Hs2, Hs3];

    public RegistrationHost Registration { get; private set; } = null!;

    /// <summary>Signs every proxy's inbound TLS certificate; trusted by the proxies' outbound side and the clients.</summary>
    public TestCertificateAuthority FederationCa { get; private set; } = null!;

    /// <summary>The federation CA as clients inside the chroot see it.</summary>
    public string ChrootCaPath => $"{SynapseChroot.RunMount}/federation-ca.pem";

    public string FederationCaPath => Path.Combine(_runDirectory, "federation-ca.pem");

    /// <summary>Undelivered-request counters of each proxy right after start-up (see <see cref="NewUndeliveredAsync"/>).</summary>
    private readonly Dictionary<string, Dictionary<string, double>> _baseline = [];

    public async ValueTask InitializeAsync()
    {
        if (postgres.SkipReason is not null)
        {
            SkipReason = postgres.SkipReason;
            return;
        }

        (_chroot, SkipReason) = SynapseChroot.Locate();
        if (_chroot is null)
        {
            return;
        }

        var cancellation = TestContext.Current.CancellationToken;
        Directory.CreateDirectory(_runDirectory);
        await WriteRunFilesAsync(cancellation);

        // The list is the VZD's signed one (a test TSL CA signs it, a stand-in answers OCSP); the registration
        // service and every proxy verify it, the proxies with Federation:AllowUnsignedList off.
        ListCa = TestPki.Create(TestPki.Brainpool, "CN=E2E TSL CA, O=Test");
        _listCaPath = ListCa.WriteCaPem(_runDirectory);
        ListOcsp = await TestOcspResponder.StartAsync(ListCa);
        Registration = await RegistrationHost.StartAsync(postgres,
            $"Registration:Vzd:TrustAnchors:0={_listCaPath}", $"Registration:Vzd:Ocsp:ResponderUrl={ListOcsp.Url}");
        await ImportSignedListAsync(SignedList(1), cancellation);

        // hs1's proxy reports raw data to a stand-in rawdata-master.
        Collector = await RecordingUpstream.StartAsync();
        Hs1.RawDataCollectorUrl = $"{Collector.BaseUri}add-performance-data";

        var database = new NpgsqlConnectionStringBuilder(postgres.ConnectionString);
        var starts = new List<Task>();
        foreach (var node in Nodes)
        {
            starts.Add(StartProxyAsync(node));
            starts.Add(StartSynapseAsync(node, database, cancellation));
        }

        await Task.WhenAll(starts);
        await Task.WhenAll(Nodes.Select(n => WaitUntilReadyAsync(n, cancellation)));
        foreach (var node in Nodes)
        {
            _baseline[node.Name] = ProxyMetrics.Undelivered(await ProxyMetrics.ScrapeAsync(node.HealthPort, cancellation));
        }
    }

    /// <summary>The stand-in rawdata-master hs1's proxy reports to; every POST it received.</summary>
    public RecordingUpstream? Collector { get; private set; }

    /// <summary>The test TSL CA whose signer signs the federation list (steps 80–82).</summary>
    public TestPki ListCa { get; private set; } = null!;

    public TestOcspResponder ListOcsp { get; private set; } = null!;

    private string _listCaPath = string.Empty;

    private (Org.BouncyCastle.Crypto.AsymmetricCipherKeyPair Key, Org.BouncyCastle.X509.X509Certificate Certificate)? _listSigner;

    /// <summary>The listed nodes as the VZD would sign them, as version <paramref name="version"/>.</summary>
    public string SignedList(long version)
    {
        var (key, signer) = _listSigner ??= ListCa.IssueSigner(TestPki.Brainpool);
        var domains = Nodes.Where(n => n.Listed).Select(n => $$"""{"domain":"{{n.Host}}","telematikID":"1-{{n.Name}}","isInsurance":false}""");
        return TestPki.SignJws($$"""{"version":{{version}},"domainList":[{{string.Join(",", domains)}}]}""", "BP256R1", key.Private, signer);
    }

    public async Task ImportSignedListAsync(string jws, CancellationToken cancellation)
    {
        using var admin = Registration.CreateClient();
        using var import = await admin.PostAsync("/admin/federation/import", new StringContent(jws), cancellation);
        Assert.True(import.IsSuccessStatusCode, $"importing the signed federation list: {(int)import.StatusCode} {await import.Content.ReadAsStringAsync(cancellation)}");
    }

    /// <summary>Skips the calling test when the real homeservers cannot run here.</summary>
    public void SkipUnlessRunning() => Assert.SkipWhen(SkipReason is not null, SkipReason ?? string.Empty);

    /// <summary>Registers a fresh user (unique localpart) on the node's Synapse.</summary>
    public Task<MatrixUser> UserAsync(HomeserverNode node, string name) =>
        node.Synapse.RegisterAsync($"{name}-{Guid.NewGuid().ToString("N")[..8]}", cancellationToken: TestContext.Current.CancellationToken);

    /// <summary>The JSON a matrix-nio scenario (clients/scenarios.py) printed; fails the test with its output when it did not finish.</summary>
    public async Task<JsonElement> RunClientAsync(string scenario, object parameters)
    {
        var input = JsonSerializer.Serialize(parameters);
        var (exit, stdout, stderr) = await _chroot!.RunAsync(
            _runDirectory, ["python3", $"{SynapseChroot.RunMount}/clients/scenarios.py", scenario], input, TimeSpan.FromMinutes(3),
            TestContext.Current.CancellationToken);
        var lastLine = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "{}";
        if (exit != 0)
        {
            Assert.Fail($"matrix-nio scenario '{scenario}' failed ({exit}): {lastLine}\n{stderr}\n{Diagnostics()}");
        }

        return JsonDocument.Parse(lastLine).RootElement.Clone();
    }

    /// <summary>A user as the nio scenarios expect it: the homeserver URL is the user's proxy.</summary>
    public static object Client(MatrixUser user) =>
        new { homeserver = user.ProxyUrl, user_id = user.UserId, device_id = user.DeviceId, token = user.AccessToken, password = user.Password };

    /// <summary>
    /// Every counter of a refusal or delivery failure that grew on any proxy since start-up, as
    /// "proxy: series +n" lines; empty when every request was delivered.
    /// </summary>
    public async Task<List<string>> NewUndeliveredAsync()
    {
        var lines = new List<string>();
        foreach (var node in Nodes)
        {
            var now = ProxyMetrics.Undelivered(await ProxyMetrics.ScrapeAsync(node.HealthPort, TestContext.Current.CancellationToken));
            foreach (var (series, value) in now)
            {
                var before = _baseline[node.Name].GetValueOrDefault(series);
                if (value > before)
                {
                    lines.Add($"{node.Name}: {series} +{value - before}");
                }
            }
        }

        return lines;
    }

    /// <summary>Stops the registration service (for the test that shows proxies keep their last good list).</summary>
    public async Task StopRegistrationServiceAsync()
    {
        if (!_registrationStopped)
        {
            _registrationStopped = true;
            await Registration.DisposeAsync();
        }
    }

    /// <summary>The proxies' refusal log lines and the tail of each Synapse log, for failure messages.</summary>
    public string Diagnostics()
    {
        var text = new StringBuilder();
        foreach (var node in Nodes)
        {
            if (node.Proxy is not null)
            {
                var interesting = node.Proxy.Output.Split('\n').Where(l => !l.Contains(": Information: Microsoft.Hosting", StringComparison.Ordinal)).TakeLast(40);
                text.Append("--- proxy ").Append(node.Name).Append(node.Proxy.HasExited ? " (exited)" : string.Empty).Append(" ---\n")
                    .AppendJoin('\n', interesting).Append('\n').Append(node.Proxy.ToString());
            }

            if (node.Synapse is not null)
            {
                var lines = node.Synapse.Log.Split('\n').Where(l => l.Contains(" - WARNING - ", StringComparison.Ordinal) || l.Contains(" - ERROR - ", StringComparison.Ordinal)
                    || l.Contains(" - CRITICAL - ", StringComparison.Ordinal)).TakeLast(30);
                text.Append("--- synapse ").Append(node.Name).Append(" (warnings and errors) ---\n").AppendJoin('\n', lines).Append('\n');
            }
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        var stops = new List<Task>();
        foreach (var node in Nodes)
        {
            if (node.Synapse is not null)
            {
                stops.Add(node.Synapse.DisposeAsync().AsTask());
            }

            if (node.Proxy is not null)
            {
                stops.Add(node.Proxy.DisposeAsync().AsTask());
            }
        }

        await Task.WhenAll(stops);
        if (Collector is not null)
        {
            await Collector.DisposeAsync();
        }

        if (Registration is not null && !_registrationStopped)
        {
            await Registration.DisposeAsync();
        }

        if (ListOcsp is not null)
        {
            await ListOcsp.DisposeAsync();
        }

        _chroot?.Dispose();
        FederationCa?.Dispose();
        foreach (var node in Nodes)
        {
            node.ProxyCa?.Dispose();
        }

        if (Environment.GetEnvironmentVariable("MP_E2E_KEEP") == "1")
        {
            // For a look afterwards: the configuration each Synapse ran with, and every log.
            foreach (var node in Nodes.Where(n => n.Directory is not null))
            {
                await File.WriteAllTextAsync(Path.Combine(node.Directory, "proxy.log"), node.Proxy?.Output + node.Proxy?.ToString());
                await File.WriteAllTextAsync(Path.Combine(node.Directory, "synapse.log"), node.Synapse?.FullLog ?? string.Empty);
            }

            Console.Error.WriteLine($"end-to-end run folder kept: {_runDirectory}");
        }
        else
        {
            TestDirectories.Delete(_runDirectory);
        }
    }

    private async Task WriteRunFilesAsync(CancellationToken cancellation)
    {
        // Names come from the chroot's hosts file (the fixture's, bound over it); the resolver points at a
        // loopback port where nothing listens, so any DNS query fails at once instead of timing out.
        await File.WriteAllTextAsync(Path.Combine(_runDirectory, "hosts"),
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            + string.Concat(Nodes.Select(n => $"127.0.0.1\t{n.Host}\n")), cancellation);
        await File.WriteAllTextAsync(Path.Combine(_runDirectory, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", cancellation);

        var clients = Path.Combine(_runDirectory, "clients");
        Directory.CreateDirectory(clients);
        foreach (var script in Directory.GetFiles(RepoPaths.Combine("tests", "MessengerProxy.Tests", "EndToEnd", "clients"), "*.py"))
        {
            File.Copy(script, Path.Combine(clients, Path.GetFileName(script)));
        }

        FederationCa = TestCertificateAuthority.Create("CN=E2E Federation Test CA");
        await File.WriteAllTextAsync(FederationCaPath, FederationCa.Certificate.ExportCertificatePem(), cancellation);
        foreach (var node in Nodes)
        {
            node.Directory = Path.Combine(_runDirectory, node.Name);
            Directory.CreateDirectory(node.Directory);
            node.ProxyCa = TestCertificateAuthority.Create($"CN=E2E {node.Name} Outbound Proxy CA");
            node.ProxyCa.WritePem(node.Directory, "proxy-ca");
            await WriteLeafAsync(FederationCa.IssueServer(node.Host), node.TlsCertificatePath, node.TlsKeyPath, cancellation);
            if (node.DtlsPort != 0)
            {
                await WriteLeafAsync(FederationCa.IssueServer(node.Host, "localhost", "127.0.0.1"), node.DtlsCertificatePath, node.DtlsKeyPath, cancellation);
            }
        }
    }

    private static async Task WriteLeafAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate, string certificatePath, string keyPath, CancellationToken cancellation)
    {
        using (certificate)
        {
            using var key = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(certificate)!;
            await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem(), cancellation);
            await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem(), cancellation);
        }
    }

    private async Task StartProxyAsync(HomeserverNode node)
    {
        var args = ProxyConfiguration.Arguments(node, Nodes, Registration.ApiUri);
        args.AddRange(["--Federation:AllowUnsignedList=false", $"--Federation:TrustAnchors:0={_listCaPath}", $"--Federation:Ocsp:ResponderUrl={ListOcsp.Url}"]);
        node.Proxy = await ProxyProcess.StartWithArgumentsAsync(args, node.ProxyPort, node.HealthPort, ShippedProxyPath(), _chroot!.Launcher);
    }

    /// <summary>
    /// The proxy in its own build output, so it reads its own appsettings.json as shipped (the test output
    /// folder's appsettings.json is the registration service's: both projects copy one there).
    /// </summary>
    private static string ShippedProxyPath()
    {
        var output = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
        var path = RepoPaths.Combine("src", "Host", "bin", output.Parent!.Name, output.Name, "MessengerProxy.dll");
        return File.Exists(path) ? path : throw new InvalidOperationException($"the proxy is not built at {path}");
    }

    private async Task StartSynapseAsync(HomeserverNode node, NpgsqlConnectionStringBuilder database, CancellationToken cancellation)
    {
        var directory = $"{SynapseChroot.RunMount}/{node.Name}";
        var settings = new SynapseSubstitutions(
            ServerName: node.ServerName,
            PublicBaseUrl: node.ClientUrl + "/",
            ListenerPort: node.SynapsePort,
            DatabaseHost: database.Host == "localhost" ? "127.0.0.1" : database.Host!,
            DatabasePort: database.Port,
            DatabaseUser: database.Username ?? "postgres",
            DatabasePassword: database.Password ?? string.Empty,
            DatabaseName: $"synapse_{node.Name}_{Guid.NewGuid().ToString("N")[..8]}",
            ConfigDirectory: directory,
            ProxyCaPath: $"{directory}/proxy-ca.pem",
            RegistrationSharedSecret: "e2e-" + Guid.NewGuid().ToString("N"),
            OutboundProxyUrl: $"http://127.0.0.1:{node.OutboundPort}");
        node.Synapse = await SynapseServer.StartAsync(_chroot!, _runDirectory, node.Name, settings, postgres.ConnectionString!, cancellation, node.AdminPassword);
    }

    private static async Task WaitUntilReadyAsync(HomeserverNode node, CancellationToken cancellation)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        // Generous: on a loaded machine a starting proxy (and the homeserver its readiness probes) can be slow to answer.
        var deadline = DateTime.UtcNow.AddSeconds(120);
        string last = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await client.GetAsync($"http://127.0.0.1:{node.HealthPort}/actuator/health/readiness", cancellation);
                last = await response.Content.ReadAsStringAsync(cancellation);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
            {
                last = "(no answer within 10 s)";
            }

            await Task.Delay(200, cancellation);
        }

        throw new TimeoutException($"proxy of {node.Name} not ready within 120 s: {last}\n{node.Proxy.Output}");
    }
}
