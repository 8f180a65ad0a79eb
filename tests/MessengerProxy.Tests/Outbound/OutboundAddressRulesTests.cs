using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// The outbound proxy is not a way into the operator's network: destinations that are, or resolve to,
/// loopback, private, link-local or otherwise internal addresses are refused before any connection, and
/// the number of client connections is bounded. (Federation checks are off here, so only these rules decide.)
/// </summary>
public sealed class OutboundAddressRulesTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mp-outbound-addr-" + Guid.NewGuid().ToString("N"));
    private TestCertificateAuthority _ca = null!;
    private ProxyHost _proxy = null!;

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        _ca = TestCertificateAuthority.Create("CN=Test Outbound Proxy CA");
        var (certificate, key) = _ca.WritePem(_directory, "ca");
        _proxy = await ProxyHost.StartAsync("http://127.0.0.1:9",
            $"Outbound:CaCertificatePath={certificate}",
            $"Outbound:CaKeyPath={key}",
            "Outbound:AllowedPorts:0=8448",
            "Outbound:HostAddresses:internal.test=10.1.2.3",
            "Outbound:HostAddresses:loop.test=127.0.0.1",
            "Outbound:HostAddresses:mapped.test=::ffff:127.0.0.1",
            "Outbound:HostAddresses:ula.test=fd00::1",
            "Outbound:HostAddresses:nat64.test=64:ff9b::7f00:1",
            "Outbound:HostAddresses:metadata.test=169.254.169.254",
            "Outbound:ExtraHosts:0=metadata.test:80",
            "Outbound:MaxConnections=3");
    }

    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        _ca.Dispose();
        TestDirectories.Delete(_directory);
    }

    [Theory]
    [InlineData("127.0.0.1:8448")]
    [InlineData("127.1.2.3:8448")]
    [InlineData("[::1]:8448")]
    [InlineData("[::ffff:127.0.0.1]:8448")]
    [InlineData("10.0.0.1:8448")]
    [InlineData("172.16.5.4:8448")]
    [InlineData("192.168.1.1:8448")]
    [InlineData("169.254.169.254:8448")]
    [InlineData("100.64.0.1:8448")]
    [InlineData("0.0.0.0:8448")]
    [InlineData("[fe80::1]:8448")]
    [InlineData("[fd12:3456::1]:8448")]
    [InlineData("internal.test:8448")]
    [InlineData("loop.test:8448")]
    [InlineData("mapped.test:8448")]
    [InlineData("ula.test:8448")]
    [InlineData("localhost:8448")]
    public async Task Connect_ToInternalAddress_403(string authority)
    {
        var response = await RawHttp.SendAsync(_proxy.OutboundPort, $"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");

        Assert.Equal(403, response.StatusCode);
        using var body = JsonDocument.Parse(response.Body);
        Assert.Equal("M_FORBIDDEN", body.RootElement.GetProperty("errcode").GetString());
        Assert.Contains("resolves only to addresses the proxy must not connect to", body.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Connect_ToIPv6FormThatTranslatesToAnInternalIPv4Address_403()
    {
        // One proxy for all forms (this class starts a proxy per test): NAT64, 6to4, IPv4-compatible, SIIT,
        // local-use NAT64 and Teredo, as literals and through a name.
        string[] authorities =
        [
            "[64:ff9b::7f00:1]:8448", "[64:ff9b::a9fe:a9fe]:8448", "[2002:7f00:1::]:8448", "[2002:a00:1::1]:8448",
            "[::127.0.0.1]:8448", "[::ffff:0:127.0.0.1]:8448", "[64:ff9b:1::7f00:1]:8448", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:8448",
            "nat64.test:8448",
        ];
        foreach (var authority in authorities)
        {
            var response = await RawHttp.SendAsync(_proxy.OutboundPort, $"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");

            Assert.True(response.StatusCode == 403, $"CONNECT {authority}: {response.StatusCode} {response.BodyText}");
            Assert.Contains("resolves only to addresses the proxy must not connect to", response.BodyText);
        }
    }

    [Fact]
    public async Task PlainHttp_ExtraHostResolvingToMetadataAddress_403()
    {
        var response = await RawHttp.SendAsync(_proxy.OutboundPort, "GET http://metadata.test/latest/meta-data/ HTTP/1.1\r\nHost: metadata.test\r\n\r\n");

        Assert.Equal(403, response.StatusCode);
        Assert.Contains("must not connect to", response.BodyText);
    }

    [Fact]
    public async Task ConnectionLimit_ExtraConnectionsGet503_AndSlotsAreReturned()
    {
        // Every connection counts, a start-up probe too: the test starts once the proxy counts none, and holds
        // one connection at a time, each in the middle of its head, until the proxy counts it.
        await Poll.UntilAsync(async () => await OpenConnectionsAsync() == 0, "no connection open before the test");
        var held = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var client = new TcpClient();
                held.Add(client);
                await client.ConnectAsync("127.0.0.1", _proxy.OutboundPort, TestContext.Current.CancellationToken);
                await client.GetStream().WriteAsync("CONNECT remote.test:8448 HTTP/1.1\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
                var expected = i + 1;
                await Poll.UntilAsync(async () => await OpenConnectionsAsync() == expected, $"{expected} held connections counted");
            }

            var refused = await RawHttp.SendAsync(_proxy.OutboundPort, "CONNECT 10.0.0.1:8448 HTTP/1.1\r\n\r\n");
            Assert.Equal(503, refused.StatusCode);
            Assert.Contains("too many open connections", refused.BodyText);
            Assert.All(held, client => Assert.Equal(0, client.Available));
        }
        finally
        {
            foreach (var client in held)
            {
                client.Dispose();
            }
        }

        RawResponse? after = null;
        await Poll.UntilAsync(async () => (after = await RawHttp.SendAsync(_proxy.OutboundPort, "CONNECT 10.0.0.1:8448 HTTP/1.1\r\n\r\n")).StatusCode != 503, "a slot returned");
        Assert.Equal(403, after!.StatusCode);
    }

    private async Task<int> OpenConnectionsAsync()
    {
        var metrics = (await RawHttp.SendAsync(_proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;
        var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("messengerproxy_outbound_connections_open ", StringComparison.Ordinal));
        return line is null ? 0 : int.Parse(line.AsSpan(line.IndexOf(' ') + 1), System.Globalization.CultureInfo.InvariantCulture);
    }
}
