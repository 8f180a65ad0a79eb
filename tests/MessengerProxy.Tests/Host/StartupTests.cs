using System.Net;
using System.Net.Sockets;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Host;

/// <summary>Configuration errors stop the executable with exit code 1 and one readable line, never a stack trace.</summary>
public sealed class StartupTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("Inbound:HomeserverUrl is required", "--Health:Port=0")]
    [InlineData("Inbound:HomeserverUrl must be an absolute http:// or https:// URL (got 'synapse:8008')", "--Inbound:HomeserverUrl=synapse:8008")]
    [InlineData("Inbound:HomeserverUrl must not contain a path", "--Inbound:HomeserverUrl=http://synapse:8008/_matrix")]
    [InlineData("Inbound:HomeserverUrl must be an absolute http:// or https:// URL (got 'ftp://synapse')", "--homeserver", "ftp://synapse")]
    [InlineData("Inbound:TrustedProxies:0 is not an IP address or CIDR network (got '10.0.0.0/99')", "--homeserver", "http://synapse:8008", "--Inbound:TrustedProxies:0=10.0.0.0/99")]
    [InlineData("Inbound:Port must be between 0 and 65535 (got 70000)", "--homeserver", "http://synapse:8008", "--port", "70000")]
    [InlineData("Health:Port, Inbound:Port share port 9001", "--homeserver", "http://synapse:8008", "--port", "9001", "--health-port", "9001")]
    [InlineData("Inbound:ExtraEndpoints:0: 'BREW /coffee': method 'BREW' is not one of GET, PUT, POST, DELETE, PATCH", "--homeserver", "http://synapse:8008", "--Inbound:ExtraEndpoints:0=BREW /coffee")]
    [InlineData("denied endpoint 'GET /_matrix/client/v9/nothing' matches no endpoint", "--homeserver", "http://synapse:8008", "--Inbound:DeniedEndpoints:0=GET /_matrix/client/v9/nothing")]
    [InlineData("Inbound:TlsCertificatePath and Inbound:TlsKeyPath must be set together", "--homeserver", "http://synapse:8008", "--Inbound:TlsCertificatePath=/tmp/x.pem")]
    [InlineData("'Inbound:Port'", "--homeserver", "http://synapse:8008", "--port", "eighty")]
    public async Task InvalidConfiguration_ExitsWithOneReadableLine(string expected, params string[] args)
    {
        var (exitCode, _, stderr) = await ProxyProcess.RunToExitAsync(s_timeout, args);

        Assert.Equal(1, exitCode);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("messenger-proxy: cannot start: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public async Task PortAlreadyInUse_ExitsWithOneReadableLine()
    {
        using var occupant = new TcpListener(IPAddress.Loopback, 0);
        occupant.Start();
        var port = ((IPEndPoint)occupant.LocalEndpoint).Port;

        var (exitCode, stdout, stderr) = await ProxyProcess.RunToExitAsync(s_timeout,
            "--homeserver", "http://127.0.0.1:8008", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--Inbound:BindAddress=127.0.0.1", "--health-port", "0");

        Assert.Equal(1, exitCode);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("address already in use", lines[0], StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", stdout + stderr);
    }
}
