using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidthCli;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>
/// libcoap's <c>coap-client-openssl</c> and <c>mp-lb</c> over DTLS, with the certificate that
/// certificates/create-dtls-cert.sh makes: a CBOR POST, a blockwise GET over 20 KB, Observe of /sync.
/// </summary>
public sealed class FrontDoorDtlsInteropTests(FrontDoorPlainTests.Fixture fixture) : IClassFixture<FrontDoorPlainTests.Fixture>
{
    private static readonly CborJsonConverter s_cbor = new(CborKeyTable.V1);

    [Fact]
    public async Task LibCoap_PostCborBodyByEnum_CreateRoomReceivesJson()
    {
        // {56: "dtls room"} = {"name": "dtls room"} with the v1 key table.
        var body = Path.Combine(Path.GetTempPath(), "mp-cbor-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllBytesAsync(body, s_cbor.JsonToCbor("""{"name":"dtls room"}"""u8, integerKeys: true), TestContext.Current.CancellationToken);
        try
        {
            var (exit, output, stderr) = await LibCoap.RunAsync("coap-client-openssl", "-m", "post", "-R", fixture.CertificatePath,
                "-O", "256,dtls-token", "-t", "60", "-f", body, $"coaps://localhost:{fixture.DtlsPort}/G");

            Assert.True(exit == 0, stderr);
            var received = fixture.Upstream.Requests.Single(r => r.Header("Authorization") == "Bearer dtls-token");
            Assert.Equal("POST", received.Method);
            Assert.Equal("/_matrix/client/v3/createRoom", received.RawTarget);
            // The TIM rule room-version writes the default version in, ahead of the client's bytes.
            Assert.Equal("""{"room_version":"10","name":"dtls room"}""", Encoding.UTF8.GetString(received.Body));
            Assert.Equal("ok", JsonDocument.Parse(s_cbor.CborToJson(output, out _)).RootElement.GetProperty("status").GetString());
        }
        finally
        {
            File.Delete(body);
        }
    }

    [Fact]
    public async Task LibCoap_BlockwiseGetOver20KB_OverDtls()
    {
        var (exit, output, stderr) = await LibCoap.RunAsync("coap-client-openssl", "-m", "get", "-R", fixture.CertificatePath,
            "-O", "256,dtls-sync", "-B", "30", $"coaps://localhost:{fixture.DtlsPort}/7?since=dtls");

        Assert.True(exit == 0, stderr);
        Assert.True(output.Length > 20_000, $"{output.Length} bytes");
        var events = JsonDocument.Parse(s_cbor.CborToJson(output, out _)).RootElement.GetProperty("rooms").GetProperty("join").GetProperty("!r:x").GetProperty("timeline").GetProperty("events");
        Assert.Equal(400, events.GetArrayLength());
        Assert.Single(fixture.Upstream.Requests, r => r.Header("Authorization") == "Bearer dtls-sync");
    }

    [Fact]
    public async Task LibCoap_ObserveSync_OverDtls_ReceivesTheNotifications()
    {
        // libcoap subscribes for 4 s and writes every representation it receives to the output file.
        var (exit, output, stderr) = await LibCoap.RunAsync("coap-client-openssl", "-m", "get", "-s", "4", "-R", fixture.CertificatePath,
            "-O", "256,observer-dtls", $"coaps://localhost:{fixture.DtlsPort}/7?filter=dtls");

        Assert.True(exit == 0, stderr);
        var text = Encoding.UTF8.GetString(output);
        Assert.Contains("o1", text);
        Assert.Contains("o2", text);
        Assert.Contains("o3", text);
        var polls = fixture.Upstream.Requests.Where(r => r.Header("Authorization") == "Bearer observer-dtls").Select(r => r.RawTarget).ToList();
        Assert.Equal("/_matrix/client/v3/sync?filter=dtls", polls[0]);
        Assert.Contains("/_matrix/client/v3/sync?filter=dtls&since=o1&timeout=30000", polls);
        Assert.Contains("/_matrix/client/v3/sync?filter=dtls&since=o2&timeout=30000", polls);
    }

    [Fact]
    public async Task MpLb_OverDtls_VerifiesTheCertificateAndGetsVersions()
    {
        using var output = new MemoryStream();
        using var errors = new StringWriter();
        var exit = await Cli.RunAsync(["get", $"coaps://localhost:{fixture.DtlsPort}/_matrix/client/versions", "--ca", fixture.CertificatePath],
            new MemoryStream(), output, errors);

        Assert.True(exit == 0, errors.ToString());
        Assert.Equal("v1.11", JsonDocument.Parse(output.ToArray()).RootElement.GetProperty("versions")[0].GetString());
    }

    [Fact]
    public async Task MpLb_OverDtls_RefusesAServerItDoesNotTrust()
    {
        using var other = TestCertificateAuthority.Create("CN=Someone Else");
        var path = Path.Combine(Path.GetTempPath(), "mp-other-" + Guid.NewGuid().ToString("N") + ".pem");
        await File.WriteAllTextAsync(path, other.Certificate.ExportCertificatePem(), TestContext.Current.CancellationToken);
        try
        {
            using var errors = new StringWriter();
            var exit = await Cli.RunAsync(["get", $"coaps://localhost:{fixture.DtlsPort}/0", "--ca", path], new MemoryStream(), new MemoryStream(), errors);

            Assert.Equal(1, exit);
            Assert.Contains("DTLS handshake failed: bad_certificate", errors.ToString());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
