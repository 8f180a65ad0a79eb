using System.Text.Json;
using MessengerProxy.Tests.TestKit;
using YamlDotNet.RepresentationModel;

namespace MessengerProxy.Tests.Deployment;

/// <summary>
/// The compose file's inbound listeners, started for real: its <c>Inbound__Listeners__*</c> settings (ports
/// made free loopback ones, the certificate folder a temporary one) and the certificate its
/// <c>federation-tls-init</c> service makes with the repository's script.
/// </summary>
public sealed class ComposeListenersTests : IAsyncLifetime
{
    private const string CertificateVolume = "/certificates";
    private readonly string _directory = Directory.CreateTempSubdirectory("mp-compose-listeners-").FullName;
    private RecordingUpstream _upstream = null!;
    private ProxyHost? _proxy;
    private int _clientIndex;
    private int _federationIndex;
    private string _certificatePath = null!;

    public async ValueTask InitializeAsync()
    {
        var services = (YamlMappingNode)Load()["services"];
        var init = ((YamlSequenceNode)((YamlMappingNode)services["federation-tls-init"])["entrypoint"]).Select(e => ((YamlScalarNode)e).Value!).ToList();
        Assert.Equal(["/bin/sh", "/app/certificates/create-dtls-cert.sh", CertificateVolume], init.Take(3));
        var script = System.Diagnostics.Process.Start("sh", [RepoPaths.Combine("certificates", "create-dtls-cert.sh"), _directory, .. init.Skip(3)])!;
        await script.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, script.ExitCode);

        var environment = ((YamlMappingNode)((YamlMappingNode)services["proxy"])["environment"]).Children
            .ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);
        var settings = new List<string>();
        foreach (var (key, value) in environment.Where(e => e.Key.StartsWith("Inbound__Listeners__", StringComparison.Ordinal)))
        {
            var parts = key.Split("__");
            var setting = string.Join(':', parts);
            settings.Add(parts[^1] switch
            {
                "Port" => $"{setting}=0",
                "TlsCertificatePath" or "TlsKeyPath" => $"{setting}={value.Replace(CertificateVolume, _directory, StringComparison.Ordinal)}",
                _ => $"{setting}={value}",
            });
            if (parts[^1] == "Port")
            {
                settings.Add($"Inbound:Listeners:{parts[2]}:BindAddress=127.0.0.1");
            }

            if (parts[^1] == "Apis")
            {
                var index = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
                if (value == "client")
                {
                    _clientIndex = index;
                }
                else
                {
                    _federationIndex = index;
                }
            }

            if (parts[^1] == "TlsCertificatePath")
            {
                _certificatePath = value.Replace(CertificateVolume, _directory, StringComparison.Ordinal);
            }
        }

        settings.Add($"WellKnown:Server={environment["WellKnown__Server"]}");
        _upstream = await RecordingUpstream.StartAsync();
        _proxy = await ProxyHost.StartAsync(_upstream.BaseUri.ToString().TrimEnd('/'), [.. settings]);
    }

    public async ValueTask DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        await _upstream.DisposeAsync();
        TestDirectories.Delete(_directory);
    }

    [Fact]
    public async Task ClientListener_ServesClientsOnly()
    {
        var port = _proxy!.ListenerPort(_clientIndex);
        var client = Guid.NewGuid().ToString("N");
        var federation = Guid.NewGuid().ToString("N");

        var versions = await RawHttp.SendAsync(port, RawHttp.Request("GET", "/_matrix/client/versions", $"{RecordingUpstream.TestIdHeader}: {client}\r\n"));
        var refused = await RawHttp.SendAsync(port, RawHttp.Request("GET", "/_matrix/key/v2/server", $"{RecordingUpstream.TestIdHeader}: {federation}\r\n"));

        Assert.Equal(200, versions.StatusCode);
        Assert.Single(_upstream.WithTestId(client));
        Assert.Equal(404, refused.StatusCode);
        Assert.Equal("M_UNRECOGNIZED", JsonDocument.Parse(refused.Body).RootElement.GetProperty("errcode").GetString());
        Assert.Empty(_upstream.HeadsWithTestId(federation));
    }

    [Fact]
    public async Task FederationListener_ServesFederationOnly_OverTlsWithTheScriptsCertificate()
    {
        var port = _proxy!.ListenerPort(_federationIndex);
        var federation = Guid.NewGuid().ToString("N");
        var client = Guid.NewGuid().ToString("N");

        var served = await CurlAsync(port, "/_matrix/key/v2/server", federation);
        var refused = await CurlAsync(port, "/_matrix/client/versions", client);

        Assert.EndsWith("\n200", served);
        Assert.Single(_upstream.WithTestId(federation));
        Assert.EndsWith("\n404", refused);
        Assert.Contains("M_UNRECOGNIZED", refused, StringComparison.Ordinal);
        Assert.Empty(_upstream.HeadsWithTestId(client));
    }

    private async Task<string> CurlAsync(int port, string target, string testId)
    {
        // The script's certificate is for the name it was given (localhost in compose) and self-signed: trusted as its own CA.
        var (exitCode, stdout, stderr) = await Curl.RunAsync("--cacert", _certificatePath, "--resolve", $"localhost:{port}:127.0.0.1",
            "-H", $"{RecordingUpstream.TestIdHeader}: {testId}", "--write-out", "\n%{http_code}", $"https://localhost:{port}{target}");
        Assert.True(exitCode == 0, stderr);
        return stdout;
    }

    private static YamlMappingNode Load()
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(RepoPaths.Combine("docker-compose.yml"));
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }
}
