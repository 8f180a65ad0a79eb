using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>The proxy refuses to start with a CA it cannot use, saying why in one line.</summary>
public sealed class OutboundStartupTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mp-outbound-start-" + Guid.NewGuid().ToString("N"));

    public OutboundStartupTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => TestDirectories.Delete(_directory);

    [Fact]
    public async Task NoCaConfigured_RefusesToStart()
    {
        var line = await RunExpectingFailureAsync("--Outbound:Port=0");

        Assert.Contains("Outbound:CaCertificatePath and Outbound:CaKeyPath are required", line);
    }

    [Fact]
    public async Task CaKeyOfAnotherCa_RefusesToStart()
    {
        using var ca = TestCertificateAuthority.Create("CN=One");
        using var other = TestCertificateAuthority.Create("CN=Two");
        var (certificate, _) = ca.WritePem(_directory, "one");
        var (_, otherKey) = other.WritePem(_directory, "two");

        var line = await RunExpectingFailureAsync("--ca-cert", certificate, "--ca-key", otherKey);

        Assert.Contains("does not belong to the CA certificate", line);
    }

    [Fact]
    public async Task LeafCertificateInsteadOfCa_RefusesToStart()
    {
        using var ca = TestCertificateAuthority.Create("CN=Issuer");
        using var leaf = ca.IssueServer("not-a-ca.test");
        var certificate = Path.Combine(_directory, "leaf.pem");
        var key = Path.Combine(_directory, "leaf.key");
        await File.WriteAllTextAsync(certificate, leaf.ExportCertificatePem(), TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(key, leaf.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(), TestContext.Current.CancellationToken);

        var line = await RunExpectingFailureAsync("--ca-cert", certificate, "--ca-key", key);

        Assert.Contains("is not a CA certificate", line);
    }

    [Fact]
    public async Task CaFromTheShippedScript_Starts()
    {
        var script = Path.Combine(RepoPaths.Root, "certificates", "create-ca.sh");
        var info = new System.Diagnostics.ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(_directory);
        using (var process = System.Diagnostics.Process.Start(info)!)
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.Equal(0, process.ExitCode);
        }

        await using var proxy = await ProxyHost.StartAsync("http://127.0.0.1:9",
            $"Outbound:CaCertificatePath={Path.Combine(_directory, "ca.crt")}", $"Outbound:CaKeyPath={Path.Combine(_directory, "ca.key")}");
        var authority = proxy.Services.GetService(typeof(MessengerProxy.Outbound.Certificates.CertificateAuthority)) as MessengerProxy.Outbound.Certificates.CertificateAuthority;

        Assert.NotNull(authority);
        Assert.Equal("CN=messenger-proxy-ca", authority.Certificate.Subject);
        using var minted = authority.Issue("example.org", DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        Assert.Equal(authority.Certificate.Subject, minted.Issuer);
        Assert.NotNull(minted.GetECDsaPublicKey());
        Assert.True(proxy.OutboundPort > 0);
    }

    private static async Task<string> RunExpectingFailureAsync(params string[] args)
    {
        var (exitCode, _, stderr) = await ProxyProcess.RunToExitAsync(s_timeout,
            ["--homeserver", "http://127.0.0.1:8008", "--port", "0", "--health-port", "0", "--Inbound:BindAddress=127.0.0.1", .. args]);

        Assert.Equal(1, exitCode);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("messenger-proxy: cannot start: ", lines[0]);
        Assert.DoesNotContain("   at ", stderr);
        return lines[0];
    }
}
