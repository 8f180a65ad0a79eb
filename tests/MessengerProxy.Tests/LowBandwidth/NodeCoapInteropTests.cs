using System.Diagnostics;
using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>The front door's CoAP codec cross-checked with another implementation: the npm <c>coap</c> package (tests/node).</summary>
public sealed class NodeCoapInteropTests(FrontDoorPlainTests.Fixture fixture) : IClassFixture<FrontDoorPlainTests.Fixture>
{
    private static readonly CborJsonConverter s_cbor = new(CborKeyTable.V1);

    [Fact]
    public async Task NodeCoap_GetVersions()
    {
        var result = await RunAsync("GET", "/0");

        Assert.Equal("2.05", result.GetProperty("code").GetString());
        Assert.Equal("application/cbor", result.GetProperty("format").GetString());
        var json = Decode(result);
        Assert.Equal("v1.11", json.GetProperty("versions")[0].GetString());
    }

    [Fact]
    public async Task NodeCoap_PutWithIntegerKeyBodyAndTokenOption_AnsweredWithIntegerKeys()
    {
        // {27: "hello", 28: "m.text"} = {"body":"hello","msgtype":"m.text"} with the v1 key table.
        var result = await RunAsync("PUT", "/9/!node:x/m.room.message/t1", "a2181b6568656c6c6f181c666d2e74657874", "256=node-token");

        Assert.Equal("2.05", result.GetProperty("code").GetString());
        var received = fixture.Upstream.Requests.Single(r => r.RawTarget == "/_matrix/client/v3/rooms/!node:x/send/m.room.message/t1");
        Assert.Equal("Bearer node-token", received.Header("Authorization"));
        Assert.Equal("""{"body":"hello","msgtype":"m.text"}""", Encoding.UTF8.GetString(received.Body));
        Assert.Equal("ok", Decode(result).GetProperty("status").GetString());
    }

    [Fact]
    public async Task NodeCoap_BlockwiseGet_ReassemblesTheLargeSync()
    {
        var result = await RunAsync("GET", "/7?since=node", string.Empty, "256=node-sync");

        Assert.Equal("2.05", result.GetProperty("code").GetString());
        Assert.Equal(400, Decode(result).GetProperty("rooms").GetProperty("join").GetProperty("!r:x").GetProperty("timeline").GetProperty("events").GetArrayLength());
    }

    private static JsonElement Decode(JsonElement result) =>
        JsonDocument.Parse(s_cbor.CborToJson(Convert.FromHexString(result.GetProperty("payloadHex").GetString()!), out _)).RootElement;

    private async Task<JsonElement> RunAsync(params string[] args)
    {
        var script = RepoPaths.Combine("tests", "node", "coap-request.js");
        Assert.True(Directory.Exists(RepoPaths.Combine("tests", "node", "node_modules", "coap")), "run `npm ci --prefix tests/node` (./test.sh does)");
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(fixture.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"node exited {process.ExitCode}: {output} {await stderr}");
        return JsonDocument.Parse(output).RootElement;
    }
}
