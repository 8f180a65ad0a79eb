using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidthCli;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary><c>mp-lb</c>: the converter on the MSC vector, and the client through the real front door.</summary>
public sealed class LowBandwidthCliTests(FrontDoorPlainTests.Fixture fixture) : IClassFixture<FrontDoorPlainTests.Fixture>
{
    private const string MscJson = """{"type":"m.room.message","content":{"msgtype":"m.text","body":"Hello World"},"sender":"@alice:localhost","room_id":"!foo:localhost","unsigned":{"bool_value":true,"null_value":null}}""";
    private const string MscCborHex = "a5026e6d2e726f6f6d2e6d65737361676503a2181b6b48656c6c6f20576f726c64181c666d2e74657874056e21666f6f3a6c6f63616c686f7374067040616c6963653a6c6f63616c686f737409a26a626f6f6c5f76616c7565f56a6e756c6c5f76616c7565f6";

    [Fact]
    public async Task Jc_Json2Cbor_MscVector()
    {
        var (exit, stdout, _) = await RunAsync(Encoding.UTF8.GetBytes(MscJson), "jc", "json2cbor", "--integer-keys", "--hex");

        Assert.Equal(0, exit);
        Assert.Equal(MscCborHex, Encoding.ASCII.GetString(stdout).Trim());
    }

    [Fact]
    public async Task Jc_Cbor2Json_BinaryInput()
    {
        var (exit, stdout, _) = await RunAsync(Convert.FromHexString(MscCborHex), "jc", "cbor2json");

        Assert.Equal(0, exit);
        using var expected = JsonDocument.Parse(MscJson);
        using var actual = JsonDocument.Parse(stdout);
        Assert.True(JsonElement.DeepEquals(expected.RootElement, actual.RootElement));
    }

    [Theory]
    [InlineData(2, "unknown command", "frobnicate")]
    [InlineData(2, "unknown option '--wat'", "jc", "cbor2json", "--wat")]
    [InlineData(2, "needs --ca", "get", "coaps://127.0.0.1:1/0")]
    [InlineData(2, "is not a coap:// or coaps:// URL", "get", "http://x/")]
    [InlineData(1, "malformed", "jc", "cbor2json", "--hex")]
    public async Task BadUsage_OneLineAndExitCode(int expectedExit, string message, params string[] args)
    {
        var (exit, _, stderr) = await RunAsync("a1"u8.ToArray(), args);

        Assert.Equal(expectedExit, exit);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public async Task Client_PutThroughTheFrontDoor_ReachesHomeserver_AndPrintsJson()
    {
        var (exit, stdout, stderr) = await RunAsync([], "put", $"coap://127.0.0.1:{fixture.Port}/_matrix/client/v3/rooms/!cli:x/send/m.room.message/t1",
            "--token", "cli-token", "--data", """{"msgtype":"m.text","body":"from the cli"}""", "--integer-keys");

        Assert.True(exit == 0, stderr);
        Assert.Equal("ok", JsonDocument.Parse(stdout).RootElement.GetProperty("status").GetString());
        var received = fixture.Upstream.Requests.Single(r => r.RawTarget == "/_matrix/client/v3/rooms/!cli:x/send/m.room.message/t1");
        Assert.Equal("Bearer cli-token", received.Header("Authorization"));
        Assert.Equal("""{"body":"from the cli","msgtype":"m.text"}""", Encoding.UTF8.GetString(received.Body)); // canonical CBOR order, as sent
    }

    [Fact]
    public async Task Client_LargeBodyAndLargeAnswer_UseBlockwise()
    {
        var big = new string('z', 5000);
        var (exit, _, stderr) = await RunAsync([], "put", $"coap://127.0.0.1:{fixture.Port}/_matrix/client/v3/rooms/!clibig:x/send/m.room.message/t1",
            "--token", "t", "--data", $$"""{"msgtype":"m.text","body":"{{big}}"}""");
        var (syncExit, sync, syncErr) = await RunAsync([], "get", $"coap://127.0.0.1:{fixture.Port}/_matrix/client/v3/sync?since=cli", "--token", "cli-sync");

        Assert.True(exit == 0, stderr);
        Assert.Contains(big, Encoding.UTF8.GetString(fixture.Upstream.Requests.Single(r => r.RawTarget.Contains("!clibig:x", StringComparison.Ordinal)).Body));
        Assert.True(syncExit == 0, syncErr);
        Assert.Equal(400, JsonDocument.Parse(sync).RootElement.GetProperty("rooms").GetProperty("join").GetProperty("!r:x").GetProperty("timeline").GetProperty("events").GetArrayLength());
    }

    [Fact]
    public async Task Client_RefusedRequest_ExitCode1_WithTheMatrixError()
    {
        var (exit, stdout, stderr) = await RunAsync([], "get", $"coap://127.0.0.1:{fixture.Port}/_synapse/admin/v1/users");

        Assert.Equal(1, exit);
        Assert.Contains("4.04", stderr);
        Assert.Equal("M_UNRECOGNIZED", JsonDocument.Parse(stdout).RootElement.GetProperty("errcode").GetString());
    }

    private static async Task<(int Exit, byte[] Stdout, string Stderr)> RunAsync(byte[] stdin, params string[] args)
    {
        using var input = new MemoryStream(stdin);
        using var output = new MemoryStream();
        using var errors = new StringWriter();
        var exit = await Cli.RunAsync(args, input, output, errors);
        return (exit, output.ToArray(), errors.ToString());
    }
}
