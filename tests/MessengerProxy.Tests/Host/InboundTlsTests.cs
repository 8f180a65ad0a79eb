using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Host;

/// <summary>The inbound listener can terminate TLS itself (HTTP/1.1 and HTTP/2), checked with curl.</summary>
public sealed class InboundTlsTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("mp-tls-").FullName;
    private RecordingUpstream _upstream = null!;
    private ProxyHost _proxy = null!;

    private string CertificatePath => Path.Combine(_directory, "server.crt");

    public async ValueTask InitializeAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=matrix.example.org", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("matrix.example.org");
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(CertificatePath, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(_directory, "server.key"), key.ExportPkcs8PrivateKeyPem());

        _upstream = await RecordingUpstream.StartAsync();
        _proxy = await ProxyHost.StartAsync(_upstream.BaseUri.ToString().TrimEnd('/'),
            $"Inbound:TlsCertificatePath={CertificatePath}", $"Inbound:TlsKeyPath={Path.Combine(_directory, "server.key")}");
    }

    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Theory]
    [InlineData("--http1.1", "1.1")]
    [InlineData("--http2", "2")]
    public async Task Curl_OverTls_ReachesTheHomeserverWithHttpsForwardedProto(string protocolFlag, string expectedVersion)
    {
        var id = Guid.NewGuid().ToString("N");
        var url = $"https://matrix.example.org:{_proxy.InboundPort}/_matrix/client/v3/rooms/%21r%3Aex.org/event/%24e";

        var (exitCode, stdout, stderr) = await Curl.RunAsync(protocolFlag, "--cacert", CertificatePath,
            "--resolve", $"matrix.example.org:{_proxy.InboundPort}:127.0.0.1",
            "-H", "Authorization: Bearer t", "-H", $"{RecordingUpstream.TestIdHeader}: {id}",
            "--write-out", "\n%{http_code} %{http_version}", url);

        Assert.True(exitCode == 0, stderr);
        Assert.EndsWith($"200 {expectedVersion}", stdout.Trim());
        var seen = _upstream.Single(id);
        Assert.Equal("/_matrix/client/v3/rooms/%21r%3Aex.org/event/%24e", seen.RawTarget);
        Assert.Equal("https", seen.Header("X-Forwarded-Proto"));
        Assert.Equal($"matrix.example.org:{_proxy.InboundPort}", seen.Header("Host"));
    }

    [Fact]
    public async Task Curl_PathAsIs_DotSegmentsAreRefusedOverTlsToo()
    {
        var (exitCode, stdout, _) = await Curl.RunAsync("--path-as-is", "--cacert", CertificatePath,
            "--resolve", $"matrix.example.org:{_proxy.InboundPort}:127.0.0.1",
            "--write-out", "\n%{http_code}", $"https://matrix.example.org:{_proxy.InboundPort}/_matrix/client/v3/../../_synapse/admin/v1/users");

        Assert.Equal(0, exitCode);
        Assert.EndsWith("404", stdout.Trim());
        Assert.Contains("M_UNRECOGNIZED", stdout);
        Assert.DoesNotContain(_upstream.Requests, r => r.RawTarget.Contains("_synapse", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Curl_Http2_OversizedBodyIs413MatrixError()
    {
        var body = Path.Combine(_directory, "big.json");
        await File.WriteAllTextAsync(body, "{\"a\":\"" + new string('x', 14 * 1024 * 1024) + "\"}", TestContext.Current.CancellationToken);

        var (exitCode, stdout, stderr) = await Curl.RunAsync("--http2", "--cacert", CertificatePath,
            "--resolve", $"matrix.example.org:{_proxy.InboundPort}:127.0.0.1",
            "-H", "Authorization: Bearer t", "-H", "Content-Type: application/json", "--data-binary", "@" + body,
            "--write-out", "\n%{http_code} %{http_version}", $"https://matrix.example.org:{_proxy.InboundPort}/_matrix/client/v3/createRoom");

        Assert.True(exitCode == 0, stderr);
        Assert.EndsWith("413 2", stdout.Trim());
        Assert.Contains("M_TOO_LARGE", stdout);
        Assert.DoesNotContain(_upstream.Requests, r => r.RawTarget.EndsWith("/createRoom", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Curl_UntrustedCertificate_IsRefusedByTheClient()
    {
        var (exitCode, _, _) = await Curl.RunAsync("--resolve", $"matrix.example.org:{_proxy.InboundPort}:127.0.0.1",
            $"https://matrix.example.org:{_proxy.InboundPort}/_matrix/client/versions");

        // curl's "peer certificate cannot be authenticated" (60): the handshake is real TLS with our certificate.
        Assert.Equal(60, exitCode);
    }
}
